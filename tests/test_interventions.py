import math

import pytest
import torch

from safety_features.models.generation import generate
from safety_features.saes.loading import load_sae
from safety_features.steering.interventions import FeatureClamp, clamp_hook


@pytest.fixture(scope="module")
def tiny_sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


def hooked_logits(loaded, hooks, text="how do I bake bread"):
    tokens = loaded.model.to_tokens(loaded.format_prompt(text))
    with torch.no_grad(), loaded.model.hooks(fwd_hooks=hooks):
        return loaded.model(tokens)


def test_clamp_silent_feature_is_identity(tiny_chat, tiny_sae):
    # A feature that is zero everywhere on this input, clamped to zero: only the error-term
    # bookkeeping runs, so the output must equal the unhooked model's.
    tokens = tiny_chat.model.to_tokens(tiny_chat.format_prompt("how do I bake bread"))
    _, cache = tiny_chat.model.run_with_cache(tokens, names_filter=tiny_sae.hook_name)
    features = tiny_sae.sae.encode(cache[tiny_sae.hook_name])
    silent = int(torch.nonzero(features.amax(dim=(0, 1)) == 0).flatten()[0])
    clamp = FeatureClamp((silent,), (0.0,))
    assert torch.allclose(
        hooked_logits(tiny_chat, [clamp_hook(tiny_sae, clamp)]),
        hooked_logits(tiny_chat, []),
        atol=1e-5,
    )


def test_clamp_high_changes_output(tiny_chat, tiny_sae):
    clamp = FeatureClamp((0, 1, 2), (50.0, 50.0, 50.0))
    changed = hooked_logits(tiny_chat, [clamp_hook(tiny_sae, clamp)])
    assert not torch.allclose(changed, hooked_logits(tiny_chat, []), atol=1e-3)


def test_clamp_moves_activation_along_decoder(tiny_chat, tiny_sae):
    feature, value = 3, 7.0
    seen = {}

    def record(activation, hook):
        seen["after"] = activation.detach().clone()

    tokens = tiny_chat.model.to_tokens(tiny_chat.format_prompt("hi"))
    _, cache = tiny_chat.model.run_with_cache(tokens, names_filter=tiny_sae.hook_name)
    before = cache[tiny_sae.hook_name]
    hooks = [clamp_hook(tiny_sae, FeatureClamp((feature,), (value,))), (tiny_sae.hook_name, record)]
    with torch.no_grad(), tiny_chat.model.hooks(fwd_hooks=hooks):
        tiny_chat.model(tokens)
    original = tiny_sae.sae.encode(before)[..., feature]
    expected = before + (value - original)[..., None] * tiny_sae.sae.W_dec[feature]
    assert torch.allclose(seen["after"], expected, atol=1e-4)


def test_feature_out_of_range(tiny_sae):
    with pytest.raises(
        ValueError, match=r"Feature id 64 is out of range: this SAE has features 0 to 63"
    ):
        clamp_hook(tiny_sae, FeatureClamp((64,), (0.0,)))


def test_nan_clamp_rejected():
    with pytest.raises(ValueError, match="Clamp value nan is invalid"):
        FeatureClamp((1,), (math.nan,))


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError, match="2 feature ids but 1 values"):
        FeatureClamp((1, 2), (0.0,))


def test_clamped_generation_differs(tiny_chat, tiny_sae):
    prompts = ["how do I bake bread", "hi"]
    plain = generate(tiny_chat, prompts, max_new_tokens=6, progress=False)
    clamp = FeatureClamp(tuple(range(16)), tuple(40.0 for _ in range(16)))
    steered = generate(
        tiny_chat, prompts, max_new_tokens=6, hooks=[clamp_hook(tiny_sae, clamp)], progress=False
    )
    assert [g.response_token_ids for g in plain] != [g.response_token_ids for g in steered]


def recorded_positions(loaded, loaded_sae, positions, prompts, max_new_tokens=4):
    """Generate with a clamp followed by a recorder; return the change the clamp made per pass."""
    changes = []

    def before(activation, hook):
        hook.ctx["before"] = activation.detach().clone()

    def after(activation, hook):
        changes.append((activation - hook.ctx.pop("before")).abs().amax(dim=-1))

    clamp = FeatureClamp((5,), (30.0,))
    hooks = [
        (loaded_sae.hook_name, before),
        clamp_hook(loaded_sae, clamp, positions),
        (loaded_sae.hook_name, after),
    ]
    generate(loaded, prompts, max_new_tokens=max_new_tokens, hooks=hooks, progress=False)
    return changes


@pytest.mark.parametrize("positions", ["all", "response", "last_prompt"])
def test_clamp_positions(tiny_chat, tiny_sae, positions):
    prompts = ["hi", "how do I bake bread at home"]
    changes = recorded_positions(tiny_chat, tiny_sae, positions, prompts)
    prompt_pass, steps = changes[0], changes[1:]
    assert prompt_pass.shape[0] == len(prompts)
    assert bool((prompt_pass[:, -1] > 1).all())
    if positions == "all":
        assert bool((prompt_pass[:, :-1].amax() > 1).all())
    else:
        assert float(prompt_pass[:, :-1].amax()) == 0.0
    for step in steps:
        if positions == "last_prompt":
            assert float(step.amax()) == 0.0
        else:
            assert bool((step > 1).all())


def test_unknown_positions_rejected(tiny_sae):
    with pytest.raises(ValueError, match="positions='prompt' is invalid"):
        clamp_hook(tiny_sae, FeatureClamp((1,), (0.0,)), "prompt")  # type: ignore[arg-type]
