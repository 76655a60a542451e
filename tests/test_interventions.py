import math
from dataclasses import dataclass

import pytest
import torch

from safety_features.models.generation import encode_prompts, generate
from safety_features.saes.loading import SAELoadError, load_sae
from safety_features.steering.interventions import (
    AblateDirection,
    AddDirection,
    ClampFeatures,
    Intervention,
    InterventionError,
    OnsetWindow,
    SteerFeatures,
    TokenLayout,
    TopKFeatureReader,
    intervene,
    residual_hooks,
    selected_feature_reader,
)
from tests.conftest import random_sae

PROMPTS = [
    "hi",
    "how do I bake bread at home",
    "tell me how to pick a lock on my neighbour's front door tonight please",
]


@pytest.fixture(scope="module")
def tiny_sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


def clamp(sae, positions="all", value=30.0, features=(5,)):
    return ClampFeatures(
        loaded_sae=sae,
        feature_ids=tuple(features),
        values=tuple(value for _ in features),
        positions=positions,
    )


def prompt_logits(loaded, interventions, text="how do I bake bread", layout=None):
    tokens = torch.tensor(encode_prompts(loaded, [text]))
    if layout is None and any(i.positions != "all" for i in interventions):
        layout = TokenLayout.for_transcripts([tokens.shape[1]], [tokens.shape[1]])
    with torch.no_grad(), intervene(loaded, interventions, layout):
        return loaded.model(tokens)


def test_clamp_silent_feature_is_identity(tiny_chat, tiny_sae):
    # A feature that is zero everywhere on this input, clamped to zero, must change nothing.
    tokens = torch.tensor(encode_prompts(tiny_chat, ["how do I bake bread"]))
    _, cache = tiny_chat.model.run_with_cache(tokens, names_filter=tiny_sae.hook_name)
    features = tiny_sae.sae.encode(cache[tiny_sae.hook_name])
    silent = int(torch.nonzero(features.amax(dim=(0, 1)) == 0).flatten()[0])
    assert torch.allclose(
        prompt_logits(tiny_chat, [clamp(tiny_sae, value=0.0, features=(silent,))]),
        prompt_logits(tiny_chat, []),
        atol=1e-5,
    )


def test_clamp_moves_activation_along_decoder_only(tiny_chat, tiny_sae):
    feature, value = 3, 7.0
    seen = {}

    def record(activation, hook):
        seen["after"] = activation.detach().clone()

    tokens = torch.tensor(encode_prompts(tiny_chat, ["hi"]))
    _, cache = tiny_chat.model.run_with_cache(tokens, names_filter=tiny_sae.hook_name)
    before = cache[tiny_sae.hook_name]
    with (
        torch.no_grad(),
        intervene(
            tiny_chat,
            [clamp(tiny_sae, value=value, features=(feature,))],
            extra_hooks=[(tiny_sae.hook_name, record)],
        ),
    ):
        tiny_chat.model(tokens)
    original = tiny_sae.sae.encode(before)[..., feature]
    expected = before + (value - original)[..., None] * tiny_sae.sae.W_dec[feature]
    assert torch.allclose(seen["after"], expected, atol=1e-4)
    # The same as decode(f') + error term, the definition in the module docstring.
    features = tiny_sae.sae.encode(before)
    error = before - tiny_sae.sae.decode(features)
    features[..., feature] = value
    assert torch.allclose(seen["after"], tiny_sae.sae.decode(features) + error, atol=1e-4)


@pytest.mark.parametrize("kind", ["standard", "jumprelu", "topk"])
def test_selected_features_match_full_encode(kind):
    loaded_sae = random_sae(16, kind, "blocks.0.hook_resid_pre")
    ids = [3, 40, 41, 95]
    x = torch.randn(8, 16, 16) * 2
    read = selected_feature_reader(loaded_sae.sae, ids)
    assert read is not None
    expected = loaded_sae.sae.encode(x)[..., ids]
    assert int((expected > 0).sum()) > 5  # active features, so the comparison has content
    assert int((expected == 0).sum()) > 5  # and inactive ones
    assert torch.allclose(read(x), expected, atol=1e-5)


def test_topk_reader_probe_bound_is_exact():
    sae = random_sae(16, "topk", "blocks.0.hook_resid_pre").sae
    ids = [3, 40, 41, 95, 40]  # a repeated id must not distort the probe bound
    reader = TopKFeatureReader(sae, ids, n_probe=24)
    first = torch.randn(64, 16) * 2
    assert torch.allclose(reader(first), sae.encode(first)[..., ids], atol=1e-5)
    assert reader.probe_weight is not None  # the first batch chose the probe features
    rows_read_in_full = []
    full = reader.full

    def counting_full(rows):
        rows_read_in_full.append(rows.shape[0])
        return full(rows)

    reader.full = counting_full  # type: ignore[method-assign]
    second = torch.randn(8, 16, 16) * 2
    assert torch.allclose(reader(second), sae.encode(second)[..., ids], atol=1e-5)
    # Both branches ran: some rows were settled by the probe bound, the others in full.
    assert 0 < sum(rows_read_in_full) < 8 * 16


def test_normalised_sae_reads_through_full_encode():
    loaded_sae = random_sae(
        16, "topk", "blocks.0.hook_resid_pre", normalize_activations="layer_norm"
    )
    assert selected_feature_reader(loaded_sae.sae, [1]) is None
    # Clamping goes through the full encode and decode, which keeps the error term.
    clamp = ClampFeatures(loaded_sae=loaded_sae, feature_ids=(1,), values=(0.0,))
    assert clamp.change_rows is None
    torch.manual_seed(0)
    x = torch.randn(4, 32, 16)
    with torch.no_grad():
        active = loaded_sae.sae.encode(x)[..., 1] > 0
        edited = clamp.edit(x, "blocks.0.hook_resid_pre")
    assert 0 < int(active.sum()) < active.numel()
    assert torch.allclose(edited[~active], x[~active], atol=1e-5)
    assert not torch.allclose(edited[active], x[active], atol=1e-3)


def test_steer_adds_decoder_rows(tiny_chat, tiny_sae):
    seen = {}

    def record(activation, hook):
        seen.setdefault("x", []).append(activation.detach().clone())

    tokens = torch.tensor(encode_prompts(tiny_chat, ["hi"]))
    steer = SteerFeatures(loaded_sae=tiny_sae, feature_ids=(1, 2), coefficients=(3.0, -2.0))
    with torch.no_grad():
        for interventions in ([], [steer]):
            with intervene(tiny_chat, interventions, extra_hooks=[(tiny_sae.hook_name, record)]):
                tiny_chat.model(tokens)
    W_dec = tiny_sae.sae.W_dec
    assert torch.allclose(seen["x"][1] - seen["x"][0], 3.0 * W_dec[1] - 2.0 * W_dec[2], atol=1e-5)


def test_direction_ablation_and_addition(tiny_chat):
    torch.manual_seed(1)
    direction = torch.randn(tiny_chat.model.cfg.d_model)
    seen: dict[str, torch.Tensor] = {}

    def record(activation, hook):
        seen[hook.name] = activation.detach().clone()

    hooks = residual_hooks(tiny_chat)
    tokens = torch.tensor(encode_prompts(tiny_chat, ["hi"]))
    ablate = AblateDirection(direction=direction, hooks=hooks)
    with torch.no_grad(), intervene(tiny_chat, [ablate], extra_hooks=[(h, record) for h in hooks]):
        tiny_chat.model(tokens)
    unit = direction / direction.norm()
    for name in hooks:
        assert float((seen[name] @ unit).abs().max()) < 1e-4, name

    hook = "blocks.1.hook_resid_pre"
    add = AddDirection(direction=direction, hook_name=hook, coefficient=2.5)
    with torch.no_grad():
        with intervene(tiny_chat, [], extra_hooks=[(hook, record)]):
            tiny_chat.model(tokens)
        plain = seen[hook]
        with intervene(tiny_chat, [add], extra_hooks=[(hook, record)]):
            tiny_chat.model(tokens)
    assert torch.allclose(seen[hook] - plain, 2.5 * direction.expand_as(plain), atol=1e-5)


def changed_positions(loaded, intervention, prompts, max_new_tokens=4, onsets=None):
    """Generate with `intervention`; per forward pass, which positions it changed [batch, pos]."""
    changes = []
    hook = intervention.hook_names[0]

    def before(activation, hook):
        hook.ctx["before"] = activation.detach().clone()

    def after(activation, hook):
        changes.append((activation - hook.ctx.pop("before")).abs().amax(dim=-1) > 1e-6)

    # extra_hooks run after the interventions, so register "before" as a plain hook first.
    with loaded.model.hooks(fwd_hooks=[(hook, before)]):
        generate(
            loaded,
            prompts,
            max_new_tokens=max_new_tokens,
            hooks=[(hook, after)],
            interventions=[intervention],
            onsets=onsets,
            progress=False,
        )
    return changes


@pytest.mark.parametrize(
    "positions, prompt_pass_selects, steps_change",
    [
        ("all", lambda r: torch.ones_like(r, dtype=torch.bool), True),
        ("prompt", lambda r: r <= 0, False),
        ("response", lambda r: r == 0, True),
        ("last_prompt", lambda r: r == 0, False),
        ("generated", lambda r: torch.zeros_like(r, dtype=torch.bool), True),
    ],
)
def test_positions_select_by_response_index(
    tiny_chat, tiny_sae, positions, prompt_pass_selects, steps_change
):
    changes = changed_positions(tiny_chat, clamp(tiny_sae, positions), PROMPTS[:2])
    prompt_pass, steps = changes[0], changes[1:]
    lengths = [len(ids) for ids in encode_prompts(tiny_chat, PROMPTS[:2])]
    width = prompt_pass.shape[1]
    response_index = torch.arange(width)[None, :] - (width - 1)
    expected = prompt_pass_selects(response_index.expand(2, width)).clone()
    for row, length in enumerate(lengths):
        expected[row, : width - length] = positions == "all"  # padding
        if positions != "all":
            expected[row, width - length] = False  # BOS
    assert torch.equal(prompt_pass, expected)
    assert len(steps) == 3
    for step in steps:
        assert bool(step.all()) == steps_change
        assert bool(step.any()) == steps_change


def test_onset_window_positions(tiny_chat, tiny_sae):
    # Onset at response token 2, window [-1, 0]: positions predicting tokens 1 and 2, that is
    # the first and second generated positions. The second prompt has no onset.
    window = clamp(tiny_sae, OnsetWindow(start=-1, end=0))
    changes = changed_positions(tiny_chat, window, PROMPTS[:2], max_new_tokens=5, onsets=[2, None])
    assert not bool(changes[0].any())
    assert [step[:, 0].tolist() for step in changes[1:]] == [
        [True, False],
        [True, False],
        [False, False],
        [False, False],
    ]


def response_ids(generations):
    return [g.response_token_ids for g in generations]


INTERVENTION_CASES = ["clamp_all", "clamp_response", "steer_generated", "window", "add_prompt"]


def make_intervention(name, sae, loaded):
    if name == "clamp_all":
        return clamp(sae, "all", value=8.0, features=(2, 7))
    if name == "clamp_response":
        return clamp(sae, "response", value=12.0, features=(9,))
    if name == "steer_generated":
        return SteerFeatures(
            loaded_sae=sae, feature_ids=(3,), coefficients=(6.0,), positions="generated"
        )
    if name == "window":
        return clamp(sae, OnsetWindow(start=-2, end=1), value=10.0, features=(4,))
    torch.manual_seed(2)
    return AddDirection(
        direction=torch.randn(loaded.model.cfg.d_model),
        hook_name="blocks.0.hook_resid_pre",
        coefficient=3.0,
        positions="prompt",
    )


@pytest.mark.parametrize("case", INTERVENTION_CASES)
def test_steered_generation_same_with_and_without_cache(tiny_chat, tiny_sae, case):
    intervention = make_intervention(case, tiny_sae, tiny_chat)
    onsets = [1, 3, 0]
    kwargs = dict(max_new_tokens=10, interventions=[intervention], onsets=onsets, progress=False)
    cached = generate(tiny_chat, PROMPTS, **kwargs)
    recomputed = generate(tiny_chat, PROMPTS, use_cache=False, **kwargs)
    plain = generate(tiny_chat, PROMPTS, max_new_tokens=10, progress=False)
    assert response_ids(cached) == response_ids(recomputed)
    assert response_ids(cached) != response_ids(plain)  # the intervention did something


@pytest.mark.parametrize("case", INTERVENTION_CASES)
def test_steered_prompt_alone_matches_padded_batch(tiny_chat, tiny_sae, case):
    intervention = make_intervention(case, tiny_sae, tiny_chat)
    onsets = [1, 3, 0]
    batched = generate(
        tiny_chat,
        PROMPTS,
        max_new_tokens=10,
        batch_size=3,
        interventions=[intervention],
        onsets=onsets,
        progress=False,
    )
    for index, prompt in enumerate(PROMPTS):
        alone = generate(
            tiny_chat,
            [prompt],
            max_new_tokens=10,
            interventions=[intervention],
            onsets=[onsets[index]],
            progress=False,
        )
        assert alone[0].response_token_ids == batched[index].response_token_ids


def test_first_generated_token_is_steered(tiny_chat, tiny_sae):
    # Find a steer that changes the greedy first token, then check generation picks it.
    plain = generate(tiny_chat, PROMPTS, max_new_tokens=1, progress=False)
    for feature in range(tiny_sae.sae.cfg.d_sae):
        steer = SteerFeatures(
            loaded_sae=tiny_sae, feature_ids=(feature,), coefficients=(20.0,), positions="response"
        )
        logits = prompt_logits(tiny_chat, [steer], PROMPTS[0])
        if int(logits[0, -1].argmax()) != plain[0].response_token_ids[0]:
            break
    else:
        pytest.fail("no feature changes the first token")
    steered = generate(tiny_chat, PROMPTS[:1], max_new_tokens=1, interventions=[steer])
    assert steered[0].response_token_ids[0] == int(logits[0, -1].argmax())


@dataclass(frozen=True, kw_only=True)
class Exploding(Intervention):
    hook: str = "blocks.0.hook_resid_pre"

    @property
    def hook_names(self):
        return (self.hook,)

    def edit(self, activation, hook_name):
        raise RuntimeError("edit failed")


def test_hooks_removed_after_exception_inside_hook(tiny_chat, tiny_sae):
    baseline = prompt_logits(tiny_chat, [])
    with pytest.raises(RuntimeError, match="edit failed"):
        prompt_logits(tiny_chat, [clamp(tiny_sae, value=50.0), Exploding()])
    assert torch.equal(prompt_logits(tiny_chat, []), baseline)
    with pytest.raises(RuntimeError, match="edit failed"):
        generate(tiny_chat, PROMPTS, max_new_tokens=4, interventions=[Exploding()])
    assert torch.equal(prompt_logits(tiny_chat, []), baseline)


def test_feature_out_of_range(tiny_sae):
    with pytest.raises(
        InterventionError, match=r"Feature id 64 is out of range: this SAE has features 0 to 63"
    ):
        clamp(tiny_sae, features=(64,))


def test_nan_clamp_rejected(tiny_sae):
    with pytest.raises(InterventionError, match="Clamp value nan is invalid"):
        clamp(tiny_sae, value=math.nan)


def test_mismatched_lengths_rejected(tiny_sae):
    with pytest.raises(InterventionError, match="2 feature ids but 1 values"):
        ClampFeatures(loaded_sae=tiny_sae, feature_ids=(1, 2), values=(0.0,))


def test_repeated_clamp_ids_rejected(tiny_sae):
    with pytest.raises(InterventionError, match=r"feature ids \[2\] more than once"):
        ClampFeatures(loaded_sae=tiny_sae, feature_ids=(2, 5, 2), values=(0.0, 0.0, 1.0))


def test_unknown_positions_rejected(tiny_sae):
    with pytest.raises(InterventionError, match="positions='middle' is invalid"):
        clamp(tiny_sae, "middle")


def test_positions_need_a_layout(tiny_chat, tiny_sae):
    tokens = torch.tensor(encode_prompts(tiny_chat, ["hi"]))
    with pytest.raises(InterventionError, match="needs to know where each prompt ends"):
        with torch.no_grad(), intervene(tiny_chat, [clamp(tiny_sae, "prompt")]):
            tiny_chat.model(tokens)


def test_onset_window_needs_onsets_before_generating(tiny_chat, tiny_sae):
    with pytest.raises(InterventionError, match="needs the onset of each prompt"):
        generate(tiny_chat, PROMPTS, interventions=[clamp(tiny_sae, OnsetWindow())])


def test_sae_for_another_model_rejected_before_generation(tiny_chat, tiny_sae, monkeypatch):
    other = load_sae(tiny_sae.path)
    other.metadata["model_weights_sha256"] = "0" * 64
    calls = []
    monkeypatch.setattr(
        "safety_features.models.generation.generate_batch", lambda *a, **k: calls.append(a)
    )
    with pytest.raises(SAELoadError, match="was trained on model weights 000000000000"):
        generate(tiny_chat, PROMPTS, interventions=[clamp(other)])
    assert calls == []


def test_direction_of_wrong_size_rejected(tiny_chat):
    add = AddDirection(direction=torch.ones(7), hook_name="blocks.0.hook_resid_pre")
    with pytest.raises(InterventionError, match="The direction has size 7"):
        generate(tiny_chat, PROMPTS, interventions=[add])
