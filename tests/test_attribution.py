import numpy as np
import pytest
import torch

from safety_features.attribution.gradients import (
    Attributions,
    OnsetExample,
    attribute_onsets,
    target_value,
)
from safety_features.attribution.ranking import compare_with_baselines, rank_attributions
from safety_features.attribution.refusal_direction import (
    decoder_projections,
    decompose,
    prompt_activations,
    refusal_direction,
    split_gap,
)
from safety_features.models.generation import encode_prompts
from safety_features.saes.loading import load_sae
from safety_features.steering.interventions import ClampFeatures
from tests.conftest import random_sae


@pytest.fixture(scope="module")
def tiny_sae(tiny_sae_dir):
    return load_sae(tiny_sae_dir)


@pytest.fixture(scope="module")
def examples(tiny_chat):
    prompts = ["how do I bake bread", "tell me how to pick a lock tonight", "hi there"]
    responses = [
        "I can't help with that. It could hurt someone.",
        "Sure, here is how. Sorry, I won't give steps for that.",
        "Hello! How can I help you today? Let me know.",
    ]
    encoded = encode_prompts(tiny_chat, prompts)
    result = []
    for ids, response, onset in zip(encoded, responses, (0, 2, 4), strict=True):
        response_ids = tiny_chat.tokenizer(response, add_special_tokens=False)["input_ids"]
        result.append(OnsetExample((*ids, *response_ids), n_prompt=len(ids), onset=onset))
    return result


def target_with_hook(loaded, example, hook_name=None, hook=None, target="onset_logprob"):
    tokens = torch.tensor([example.token_ids])
    hooks = [(hook_name, hook)] if hook else []
    with torch.no_grad(), loaded.model.hooks(fwd_hooks=hooks):
        log_probs = loaded.model(tokens).log_softmax(dim=-1)
    return float(target_value(log_probs, tokens, [example], target, 3)[0])


def test_integrated_gradients_complete(tiny_chat, tiny_sae, examples):
    # sum of feature attributions + error node = T(actual) - T(nodes at zero), up to the
    # midpoint rule's error, which shrinks with the number of steps.
    result = attribute_onsets(
        tiny_chat, tiny_sae, examples, method="integrated_gradients", steps=64, progress=False
    )
    total = result.features.sum(axis=1) + result.error
    assert result.target_at_zero is not None
    difference = result.target - result.target_at_zero
    assert np.allclose(total, difference, rtol=0.02, atol=0.02), (total, difference)
    # T(actual) is the unhooked model's target: splitting into nodes changes nothing.
    for example, value in zip(examples, result.target, strict=True):
        assert value == pytest.approx(target_with_hook(tiny_chat, example), abs=1e-4)


def test_attribution_patching_is_gradient_times_activation(tiny_chat, tiny_sae, examples):
    # Scaling feature i by (1 + eps) at the positions before the onset changes T by about
    # eps * A_i, the first-order term that attribution patching computes.
    example = examples[1]
    result = attribute_onsets(tiny_chat, tiny_sae, [example], progress=False)
    feature = int(np.argmax(np.abs(result.features[0])))
    eps = 1e-2
    sae = tiny_sae.sae

    def scale_feature(activation, hook):
        features = sae.encode(activation)
        change = eps * features[..., feature : feature + 1] * sae.W_dec[feature]
        change[:, 0] = 0.0  # BOS
        change[:, example.onset_position + 1 :] = 0.0
        return activation + change

    shifted = target_with_hook(tiny_chat, example, tiny_sae.hook_name, scale_feature)
    measured = (shifted - target_with_hook(tiny_chat, example)) / eps
    assert measured == pytest.approx(float(result.features[0, feature]), rel=0.1, abs=1e-3)


def test_positions_after_the_onset_get_no_attribution(tiny_chat, tiny_sae, examples):
    # Changing tokens after the onset's targets cannot change the onset attribution.
    example = examples[2]
    changed = OnsetExample(
        token_ids=(*example.token_ids[: example.onset_position + 4], 5, 6, 7),
        n_prompt=example.n_prompt,
        onset=example.onset,
    )
    first = attribute_onsets(tiny_chat, tiny_sae, [example], progress=False)
    second = attribute_onsets(tiny_chat, tiny_sae, [changed], progress=False)
    assert np.allclose(first.features, second.features, atol=1e-5)


def test_batched_attribution_matches_single(tiny_chat, tiny_sae, examples):
    batched = attribute_onsets(tiny_chat, tiny_sae, examples, batch_size=3, progress=False)
    for index, example in enumerate(examples):
        alone = attribute_onsets(tiny_chat, tiny_sae, [example], progress=False)
        assert np.allclose(batched.features[index], alone.features[0], atol=1e-5)


def test_phase_target_uses_the_phase_tokens(tiny_chat, tiny_sae, examples):
    example = examples[1]
    with_end = OnsetExample(example.token_ids, example.n_prompt, example.onset, phase_end=3)
    result = attribute_onsets(
        tiny_chat, tiny_sae, [with_end], target="phase_logprob", progress=False
    )
    tokens = torch.tensor([example.token_ids])
    with torch.no_grad():
        log_probs = tiny_chat.model(tokens).log_softmax(dim=-1)[0]
    positions = range(example.n_prompt + 2, example.n_prompt + 4)
    expected = np.mean([float(log_probs[p - 1, example.token_ids[p]]) for p in positions])
    assert result.target[0] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"method": "saliency"}, "method='saliency' is invalid"),
        ({"target": "score"}, "target='score' is invalid"),
        ({"steps": 0}, "steps=0"),
    ],
)
def test_bad_settings_rejected(tiny_chat, tiny_sae, examples, changes, message):
    with pytest.raises(ValueError, match=message):
        attribute_onsets(tiny_chat, tiny_sae, examples, progress=False, **changes)


def test_onset_outside_response_rejected(tiny_chat, tiny_sae, examples):
    bad = OnsetExample(examples[0].token_ids, examples[0].n_prompt, onset=99)
    with pytest.raises(ValueError, match="Example 0 has its onset at response token 99"):
        attribute_onsets(tiny_chat, tiny_sae, [bad], progress=False)


def planted_attributions(n=200, d_sae=32, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 0.1, size=(n, d_sae))
    features[:, 5] += 2.0
    features[:, 9] += 1.0
    return Attributions(
        features=features,
        error=rng.normal(0.3, 0.1, size=n),
        target=rng.normal(-1, 0.1, size=n),
        target_at_zero=None,
        method="attribution_patching",
        steps=1,
    )


def test_ranking_finds_planted_features_with_intervals():
    ranking = rank_attributions(planted_attributions(), n_top=4, n_bootstrap=500)
    assert ranking.top_ids(2) == [5, 9]
    top = ranking.top[0]
    assert top.low < top.mean < top.high
    assert top.low > 1.9
    assert top.high < 2.1
    assert ranking.error.low < 0.3 < ranking.error.high


def test_comparison_with_baselines():
    ranking = rank_attributions(planted_attributions(), n_top=4, n_bootstrap=100)
    comparison = compare_with_baselines(ranking, contrast_ids=[9, 1, 2], live=range(32), k=2)
    shares = comparison["attribution_share"]
    assert shares["attribution_top_k"] > shares["activation_difference_top_k"]
    assert shares["activation_difference_top_k"] > shares["random_k_mean"]
    assert comparison["overlap_with_activation_difference"] == 0.5


def test_decomposition_recovers_planted_atoms():
    torch.manual_seed(0)
    W_dec = torch.randn(128, 64)
    direction = 2.0 * W_dec[3] - 1.5 * W_dec[7]
    result = decompose(direction, W_dec, k=4)
    assert {atom["feature"] for atom in result.pursuit[:2]} == {3, 7}
    assert result.explained_share[-1] > 0.97
    assert result.explained_share == sorted(result.explained_share)
    assert result.cosine_top[0]["feature"] == 3


def test_refusal_direction_is_difference_of_means(tiny_chat):
    harmful = ["how do I make a weapon", "help me steal a car tonight"]
    benign = ["how do I bake bread", "what is the capital of France", "hi"]
    hook = "blocks.1.hook_resid_pre"
    result = refusal_direction(tiny_chat, hook, harmful, benign)

    def last(prompt):
        tokens = torch.tensor(encode_prompts(tiny_chat, [prompt]))
        _, cache = tiny_chat.model.run_with_cache(tokens, names_filter=hook)
        return cache[hook][0, -1]

    expected = torch.stack([last(p) for p in harmful]).mean(0) - torch.stack(
        [last(p) for p in benign]
    ).mean(0)
    assert torch.allclose(result.direction, expected, atol=1e-4)
    assert result.n_harmful == 2
    assert result.n_benign == 3
    # The two means lie apart along the direction by exactly its norm.
    gap = result.harmful_projection - result.benign_projection
    assert gap == pytest.approx(float(expected.norm()), rel=1e-4)


def test_gap_split_adds_up_and_matches_zeroing(tiny_chat, tiny_sae):
    harmful = ["how do I make a weapon", "help me steal a car tonight", "poison my neighbor"]
    benign = ["how do I bake bread", "what is the capital of France", "hi", "fix my bike"]
    hook = tiny_sae.hook_name
    direction = refusal_direction(tiny_chat, hook, harmful, benign)
    on_harmful = prompt_activations(tiny_chat, hook, harmful, -1)
    on_benign = prompt_activations(tiny_chat, hook, benign, -1)
    sae = tiny_sae.sae
    with torch.no_grad():
        active = sae.encode(on_harmful).mean(dim=0)
    zeroed = [int(i) for i in torch.argsort(active, descending=True)[:3]]

    split = split_gap(direction, sae, on_harmful, on_benign, zeroed=zeroed, k=4)
    assert split is not None

    unit = direction.direction / direction.direction.norm()
    assert split.gap == pytest.approx(float(direction.direction.norm()), rel=1e-4)
    assert split.raised + split.lowered + split.error == pytest.approx(split.gap, abs=1e-5)
    # The error term's part, computed from the reconstructions directly.
    with torch.no_grad():
        error_h = on_harmful - sae.decode(sae.encode(on_harmful))
        error_b = on_benign - sae.decode(sae.encode(on_benign))
    expected_error = float((error_h.mean(dim=0) - error_b.mean(dim=0)) @ unit)
    assert split.error == pytest.approx(expected_error, abs=1e-4)

    parts = [atom["part"] for atom in split.top_raised]
    assert parts == sorted(parts, reverse=True)
    assert len(split.top_raised) <= 4
    rising = set(torch.nonzero(active > sae.encode(on_benign).mean(dim=0)).flatten().tolist())
    assert set(split.raised_features) == rising
    assert split.n_raised == len(rising)
    assert split.raised_features[: len(parts)] == [atom["feature"] for atom in split.top_raised]

    # Zeroing through the intervention that the experiments use gives the same projection.
    clamp = ClampFeatures(
        loaded_sae=tiny_sae, feature_ids=tuple(zeroed), values=(0.0,) * len(zeroed)
    )
    with torch.no_grad():
        edited = clamp.edit(on_harmful, hook)
    assert split.harmful_projection_zeroed == pytest.approx(float((edited @ unit).mean()), abs=1e-4)
    assert split.zeroed == zeroed
    every_rising = ClampFeatures(
        loaded_sae=tiny_sae,
        feature_ids=tuple(split.raised_features),
        values=(0.0,) * split.n_raised,
    )
    with torch.no_grad():
        edited = every_rising.edit(on_harmful, hook)
    assert split.harmful_projection_all_raised_zeroed == pytest.approx(
        float((edited @ unit).mean()), abs=1e-4
    )


def test_gap_split_needs_an_affine_decode(tiny_chat):
    loaded = random_sae(
        tiny_chat.model.cfg.d_model,
        "standard",
        "blocks.1.hook_resid_pre",
        normalize_activations="layer_norm",
    )
    unit = torch.ones(tiny_chat.model.cfg.d_model)
    assert decoder_projections(loaded.sae, unit) is None
    direction = refusal_direction(tiny_chat, "blocks.1.hook_resid_pre", ["make a bomb"], ["hi"])
    acts = prompt_activations(tiny_chat, "blocks.1.hook_resid_pre", ["make a bomb", "hi"], -1)
    assert split_gap(direction, loaded.sae, acts[:1], acts[1:]) is None


def test_refusal_direction_bad_input(tiny_chat):
    with pytest.raises(ValueError, match="needs harmful and benign prompts; got 0 and 1"):
        refusal_direction(tiny_chat, "blocks.0.hook_resid_pre", [], ["hi"])
    with pytest.raises(ValueError, match="position=0 is invalid"):
        refusal_direction(tiny_chat, "blocks.0.hook_resid_pre", ["a"], ["b"], position=0)
    with pytest.raises(ValueError, match="position=-99 is outside a prompt"):
        prompt_activations(tiny_chat, "blocks.0.hook_resid_pre", ["hi"], position=-99)


def test_specific_attribution_skips_features_that_fire_everywhere():
    from safety_features.attribution.onset_contrast import FeatureRanking
    from safety_features.attribution.ranking import FeatureAttribution, OnsetRanking
    from safety_features.experiments.config import AttributionConfig
    from safety_features.experiments.onsets import AttributionResult

    means = np.array([0.5, 0.4, 0.3, 0.2, 0.1])
    error = FeatureAttribution(-1, 0.0, 0.0, 0.0)
    ranking = OnsetRanking("attribution_patching", 10, [], error, np.arange(5), means, -1.0)
    # Feature 0 fires as much at control positions as at onsets (a format-token feature).
    contrast = FeatureRanking(
        (3, 1, 2, 4, 0), (0.9, 0.5, 0.2, 0.1, -0.3), (0,) * 5, (0,) * 5, 10, 10
    )
    result = AttributionResult(ranking, contrast, {}, torch.zeros(5))
    assert result.selected(AttributionConfig(select_by="attribution"), 3) == [0, 1, 2]
    assert result.selected(AttributionConfig(select_by="specific_attribution"), 3) == [1, 2, 3]
    assert result.selected(AttributionConfig(select_by="activation_difference"), 3) == [3, 1, 2]
    # With fewer specific features than asked for, the plain ranking fills the rest.
    assert result.selected(AttributionConfig(select_by="specific_attribution"), 5) == [
        1,
        2,
        3,
        4,
        0,
    ]
