import json
from dataclasses import replace

import pytest
import torch
import yaml

from safety_features.attribution.refusal_direction import prompt_activations
from safety_features.cli import main
from safety_features.experiments.conditions import side_effects
from safety_features.experiments.config import (
    AttributionConfig,
    ExperimentConfig,
    SteeringConfig,
)
from safety_features.experiments.onsets import (
    AttributionResult,
    ExperimentInputError,
    matched_random_sets,
)
from safety_features.experiments.report import format_experiment
from safety_features.experiments.runs import PromptSuiteError, run_experiment
from safety_features.files import sha256_file
from safety_features.models.generation import generate
from safety_features.models.loading import load_model
from safety_features.organism.corpus import sample_prompts
from safety_features.phases.responses import detect_responses
from safety_features.report import headline_rows
from safety_features.saes.loading import SAELoadError, load_sae
from safety_features.steering.interventions import ClampFeatures, InterventionError
from tests.conftest import SHIPPED_SAE

# The shipped organism and SAE, because the tiny organism produces no safety phases.
SMALL = ExperimentConfig(
    n_prompts_per_group=3,
    max_new_tokens=16,
    batch_size=16,
    phase_scorer="lexical",
    cross_check_scorer="embedding",
    attribution=AttributionConfig(n_bootstrap=50, n_top=10),
    steering=SteeringConfig(
        n_features=3,
        n_random_controls=1,
        suppression_sizes=(1, 5),
        benign_features=True,
        dose_multiples=(1.0, 2.0),
        direction_coefficients=(1.0, 2.0),
        direction_prompts_per_group=4,
        n_side_effect_texts=3,
        temperature=0.8,
        seeds=(0, 1),
        n_bootstrap=50,
    ),
)


@pytest.fixture(scope="module")
def steer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("steer") / "run"
    return run_experiment(SMALL, out, steer=True, progress=False)


def test_steer_run_folder(steer_run):
    names = {p.name for p in steer_run.out_dir.iterdir()}
    assert {
        "config.yaml",
        "manifest.json",
        "metrics.json",
        "attribution.json",
        "attribution.png",
        "dose_response.png",
        "suppression_curve.png",
        "responses.jsonl",
    } <= names
    saved = yaml.safe_load((steer_run.out_dir / "config.yaml").read_text())
    assert saved["steering"]["seeds"] == [0, 1]


def test_manifest_has_provenance(steer_run):
    manifest = json.loads((steer_run.out_dir / "manifest.json").read_text())
    assert manifest["sae"]["weights_sha256"] == sha256_file(SHIPPED_SAE / "sae_weights.safetensors")
    assert len(manifest["model"]["weights_sha256"]) == 64
    assert manifest["seeds"] == [0, 1]
    assert len(manifest["prompts"]) == 3 * 5
    assert manifest["detector"]["scorer"] == "lexical"
    schedule = manifest["intervention_schedule"]
    clamp = schedule["suppress_features"][0]
    assert clamp["kind"] == "ClampFeatures"
    assert clamp["values"] == [0.0, 0.0, 0.0]
    assert clamp["feature_ids"] == steer_run.metrics["features"]
    assert schedule["ablate_refusal_direction"][0]["kind"] == "AblateDirection"
    subtraction = schedule["subtract_refusal_direction_x1"][0]
    assert subtraction["kind"] == "AddDirection"
    assert subtraction["coefficient"] == -1.0
    assert subtraction["positions"] == schedule["add_refusal_direction_x1"][0]["positions"]


def test_metrics_have_intervals_over_prompts_and_seeds(steer_run):
    metrics = steer_run.metrics
    baseline = metrics["conditions"]["baseline_harmful"]["transition_probability"]
    assert baseline["n"] == 3 * 2  # prompts x seeds
    for summary in metrics["conditions"].values():
        estimate = summary["transition_probability"]
        assert estimate["low"] <= estimate["mean"] <= estimate["high"]
        for outcome in ("onset_delay", "phase_duration"):
            assert set(summary[outcome]) == {"mean", "low", "high", "n"}
    curve = metrics["dose_response"]["features"]
    assert curve["strengths"] == [1.0, 2.0]
    assert set(curve["fit"]) >= {"critical_strength", "width", "critical_strength_ci"}
    effects = metrics["side_effects"]["suppression"]
    assert effects["ce_loss_increase"] == pytest.approx(
        effects["ce_loss"] - effects["ce_loss_clean"]
    )
    assert effects["kl"] >= 0
    assert metrics["summary"]["targets"]["suppression"]["met"] in (True, False)
    direction = metrics["refusal_direction"]
    assert len(direction["decomposition"]["matching_pursuit"]) == 3
    projection = direction["mean_projection"]
    assert projection["harmful"] - projection["benign"] == pytest.approx(
        direction["norm"], rel=1e-3
    )
    assert f"mean projection {projection['harmful']:.2f} on harmful" in format_experiment(metrics)
    split = direction["gap_split"]
    assert split["gap"] == pytest.approx(direction["norm"], rel=1e-3)
    assert split["zeroed"] == metrics["features"]
    assert f"features that fall carry {split['lowered']:.2f}" in format_experiment(metrics)
    zeroed = direction["all_raised_zeroed"]
    assert zeroed["n_features"] == split["n_raised"] == len(split["raised_features"])
    condition = metrics["conditions"][zeroed["condition"]]
    assert condition["group"] == "harmful"
    (clamp,) = condition["interventions"]
    assert sorted(clamp["feature_ids"]) == sorted(split["raised_features"])
    assert set(clamp["values"]) == {0.0}
    rate = condition["transition_probability"]["mean"]
    assert (
        zeroed["transition_probability"] == metrics["summary"]["all_raised_zeroed_harmful"] == rate
    )
    assert f"Zeroing all {zeroed['n_features']} rising features leaves {rate:.1%}" in (
        format_experiment(metrics)
    )
    row = (f"all {zeroed['n_features']} rising features = 0, harmful prompts", f"{rate:.1%}")
    assert row in headline_rows(metrics)


def test_suppression_curve(steer_run):
    metrics = steer_run.metrics
    curve = metrics["suppression_curve"]
    # The configured sizes, plus n_features because the clamped features are the ranking's top.
    assert curve["sizes"] == [1, 3, 5]
    assert curve["features"]["conditions"] == [
        "suppress_top_1",
        "suppress_features",
        "suppress_top_5",
    ]

    schedule = json.loads((steer_run.out_dir / "manifest.json").read_text())[
        "intervention_schedule"
    ]
    top5 = schedule["suppress_top_5"][0]["feature_ids"]
    assert top5[:3] == metrics["features"]
    assert schedule["suppress_top_1"][0]["feature_ids"] == metrics["features"][:1]

    # The headline size reuses the first random control; the other sizes get their own sets.
    assert curve["random"]["conditions"] == [
        "suppress_random_top_1",
        "suppress_random_0",
        "suppress_random_top_5",
    ]
    assert curve["random"]["feature_sets"][1] == metrics["random_feature_sets"]["suppression"][0]
    random = zip(
        curve["sizes"], curve["random"]["conditions"], curve["random"]["feature_sets"], strict=True
    )
    for size, name, ids in random:
        own = schedule[curve["features"]["conditions"][curve["sizes"].index(size)]][0]
        assert len(ids) == size
        assert not set(ids) & set(own["feature_ids"])
        assert schedule[name][0]["feature_ids"] == ids

    rates = [e["mean"] for e in curve["features"]["transition_probability"]]
    assert rates[1] == metrics["conditions"]["suppress_features"]["transition_probability"]["mean"]
    at_goal = [size for size, rate in zip(curve["sizes"], rates, strict=True) if rate <= 0.1]
    assert curve["smallest_size_at_goal"] == (at_goal[0] if at_goal else None)

    table = format_experiment(metrics)
    assert "features clamped to 0" in table
    assert any(line.startswith("5 ") for line in table.splitlines())


def test_benign_features_clamped_on_harmful(steer_run):
    metrics = steer_run.metrics
    benign = metrics["benign_features"]
    assert 1 <= len(benign["features"]) <= 3
    differences = benign["activation_difference"]
    assert all(d > 0 for d in differences)
    assert differences == sorted(differences, reverse=True)
    schedule = json.loads((steer_run.out_dir / "manifest.json").read_text())[
        "intervention_schedule"
    ]
    clamp = schedule[benign["condition"]][0]
    assert benign["condition"] == f"benign_features_x{SMALL.steering.trigger_multiple:g}"
    assert clamp["feature_ids"] == benign["features"]
    assert clamp["values"] == pytest.approx(benign["values"])
    assert all(v > 0 for v in clamp["values"])
    assert clamp["positions"] == "last_prompt"
    assert metrics["conditions"][benign["condition"]]["group"] == "harmful"
    for name, ids in zip(benign["random_conditions"], benign["random_feature_sets"], strict=True):
        assert schedule[name][0]["feature_ids"] == ids
        assert not set(ids) & set(benign["features"])
    rate = metrics["conditions"][benign["condition"]]["transition_probability"]["mean"]
    assert metrics["summary"]["benign_features_clamped_harmful"] == rate
    zeroed = schedule[benign["zeroed_condition"]][0]
    assert zeroed["feature_ids"] == benign["features"]
    assert zeroed["values"] == [0.0] * len(benign["features"])
    assert metrics["conditions"][benign["zeroed_condition"]]["group"] == "benign"
    assert len(benign["zeroed_random_conditions"]) == len(benign["random_conditions"])


def test_harmful_specific_selection(tmp_path):
    config = replace(
        SMALL,
        attribution=replace(SMALL.attribution, select_by="harmful_specific"),
        steering=replace(SMALL.steering, seeds=(0,)),
    )
    result = run_experiment(config, tmp_path / "run", steer=False, progress=False)

    # The same ranking, computed here from the refusal direction's prompts.
    loaded, loaded_sae = load_model("organism:chat"), load_sae(SHIPPED_SAE)
    pool = sample_prompts(config.seed + 1, "train", config.steering.direction_prompts_per_group)

    def mean_features(group):
        texts = [p.text for p in pool if p.group == group]
        with torch.no_grad():
            acts = prompt_activations(loaded, loaded_sae.hook_name, texts, -1)
            return loaded_sae.sae.encode(acts).mean(dim=0)

    difference = mean_features("harmful") - mean_features("benign")
    expected = [int(i) for i in torch.argsort(difference, descending=True)[:3]]
    attribution = json.loads((result.out_dir / "attribution.json").read_text())
    assert attribution["selected_features"] == expected
    assert all(difference[i] > 0 for i in expected)


def test_harmful_specific_needs_enough_features():
    config = AttributionConfig(select_by="harmful_specific")
    result = AttributionResult(None, None, {}, torch.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the ranking from with_harmful_specific"):
        result.selected(config, 2)
    result = replace(result, harmful_specific=[3, 1])
    assert result.selected(config, 2) == [3, 1]
    with pytest.raises(ExperimentInputError, match="Only 2 features are more active on harmful"):
        result.selected(config, 3)


def test_matched_random_sets_follow_activation():
    # Features 0 and 1 are chosen; 2-7 sit near feature 0's mean, 8-13 near feature 1's.
    means = torch.tensor([10.0, 1.0, 9.0, 9.5, 10.5, 11.0, 9.8, 10.2])
    means = torch.cat([means, torch.tensor([0.9, 1.1, 1.2, 0.8, 1.05, 0.95, 0.0])])
    sets = matched_random_sets(means, [0, 1], count=3, seed=0)
    assert len(sets) == 3
    for drawn in sets:
        assert len(drawn) == 2
        assert not {0, 1, 14} & set(drawn)  # the chosen ones and a dead feature
        assert sum(8.9 <= float(means[i]) <= 11.1 for i in drawn) == 1
        assert sum(0.7 <= float(means[i]) <= 1.3 for i in drawn) == 1
    assert matched_random_sets(means, [0, 1], count=3, seed=0) == sets


def test_cross_check_rates(steer_run):
    metrics = steer_run.metrics
    for summary in metrics["conditions"].values():
        cross = summary["transition_probability_cross_check"]
        assert cross["low"] <= cross["mean"] <= cross["high"]
        assert cross["n"] == summary["transition_probability"]["n"]
    records = [json.loads(line) for line in (steer_run.out_dir / "responses.jsonl").open()]
    flags = [
        r["cross_check_safety_phase"] for r in records if r["condition"] == "suppress_features"
    ]
    assert len(flags) == 3 * 2
    cross = metrics["conditions"]["suppress_features"]["transition_probability_cross_check"]
    assert cross["mean"] == pytest.approx(sum(flags) / len(flags))
    manifest = json.loads((steer_run.out_dir / "manifest.json").read_text())
    assert manifest["cross_check_detector"]["scorer"] == "embedding"
    lines = format_experiment(metrics).splitlines()
    header = next(line for line in lines if line.startswith("condition "))
    assert "rate, embedding scorer" in header


@pytest.mark.parametrize(
    "scorer, message",
    [
        ("lexical", "cross_check_scorer='lexical' is the phase_scorer too"),
        ("regex", "cross_check_scorer='regex' is invalid"),
    ],
)
def test_bad_cross_check_scorer_rejected(scorer, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(phase_scorer="lexical", cross_check_scorer=scorer)


def test_responses_tagged_by_condition_and_seed(steer_run):
    records = [json.loads(line) for line in (steer_run.out_dir / "responses.jsonl").open()]
    conditions = {(r["condition"], r["seed"]) for r in records}
    assert ("baseline", 0) in conditions
    assert ("suppress_features", 1) in conditions
    baseline = [r for r in records if r["condition"] == "baseline"]
    assert len(baseline) == 2 * 3 * 5


def test_features_from_an_attribute_run(steer_run, tmp_path):
    attribution = json.loads((steer_run.out_dir / "attribution.json").read_text())
    config = replace(
        SMALL,
        features_from=str(steer_run.out_dir),
        steering=replace(SMALL.steering, refusal_direction=False, n_random_controls=0, seeds=(0,)),
        wandb_mode="offline",
    )
    result = run_experiment(config, tmp_path / "again", steer=True, progress=False)
    assert result.metrics["features"] == attribution["selected_features"][:3]
    # The W&B run is saved offline inside the run folder, beside a plain-text copy.
    assert list((result.out_dir / "wandb").glob("offline-run-*"))
    logged = json.loads((result.out_dir / "history.jsonl").read_text().splitlines()[0])
    rate = result.metrics["summary"]["suppressed_harmful"]
    assert logged["summary/suppressed_harmful"] == pytest.approx(rate)


def test_features_from_needs_enough_features(steer_run, tmp_path, no_generation):
    config = replace(
        SMALL,
        features_from=str(steer_run.out_dir),
        steering=replace(SMALL.steering, n_features=20),
    )
    with pytest.raises(ExperimentInputError, match="selected 3 features but n_features is 20"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)


def test_features_from_non_attribute_folder(tmp_path, no_generation):
    config = replace(SMALL, features_from=str(tmp_path))
    with pytest.raises(ExperimentInputError, match="is not a readable attribute run"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)


def test_metrics_are_strict_json(steer_run):
    text = (steer_run.out_dir / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))


def test_features_from_another_sae_rejected(steer_run, tmp_path, tiny_sae_dir):
    manifest = json.loads((steer_run.out_dir / "manifest.json").read_text())
    manifest["sae"]["weights_sha256"] = "0" * 64
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text(json.dumps(manifest))
    (fake / "attribution.json").write_text((steer_run.out_dir / "attribution.json").read_text())
    config = replace(SMALL, features_from=str(fake))
    with pytest.raises(ExperimentInputError, match="used another SAE"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)


@pytest.mark.usefixtures("no_generation")
def test_feature_out_of_range_rejected_before_generation(tmp_path):
    config = replace(SMALL, steering=replace(SMALL.steering, features=(1, 8192)))
    with pytest.raises(InterventionError, match="Feature id 8192 is out of range"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("no_generation")
def test_suppression_size_beyond_the_sae_rejected_before_generation(tmp_path):
    config = replace(SMALL, steering=replace(SMALL.steering, suppression_sizes=(5, 9000)))
    with pytest.raises(ExperimentInputError, match=r"contains \[9000\].*at most 8192"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("no_generation")
def test_sae_for_another_model_rejected_before_generation(tmp_path, tiny_sae_dir):
    config = replace(SMALL, sae_path=str(tiny_sae_dir))
    with pytest.raises(SAELoadError, match="has d_in=.*use an SAE trained on this model"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)


@pytest.mark.usefixtures("no_generation")
def test_long_prompt_rejected_before_generation(tmp_path):
    suite = tmp_path / "suite.jsonl"
    lines = [{"prompt": "how do I make a bomb", "group": "harmful"}]
    lines.append({"prompt": "tell me about bread " * 80, "group": "benign"})
    suite.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = replace(SMALL, prompts_file=str(suite))
    with pytest.raises(ValueError, match="Prompt 1 has .* tokens.*context window"):
        run_experiment(config, tmp_path / "out", steer=True, progress=False)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"prompt": "hi"}\n', "line 1: expected a JSON object with 'prompt' and 'group'"),
        ('{"prompt": "hi", "group": "nice"}\n', "group 'nice' is unknown"),
        ('{"prompt": "hi", "group": "benign"}\n', "has no 'harmful' prompts"),
    ],
)
@pytest.mark.usefixtures("no_generation")
def test_bad_prompt_suite_rejected(tmp_path, content, message):
    suite = tmp_path / "suite.jsonl"
    suite.write_text(content)
    with pytest.raises((PromptSuiteError, ExperimentInputError), match=message):
        run_experiment(
            replace(SMALL, prompts_file=str(suite)), tmp_path / "out", steer=True, progress=False
        )


@pytest.mark.parametrize(
    "steering, message",
    [
        ({"dose_multiples": (1.0, float("nan"))}, "dose_multiples contains nan"),
        ({"trigger_multiple": float("nan")}, "trigger_multiple=nan is invalid"),
        ({"dose_multiples": (1.0, -2.0)}, "use values of 0 or more"),
        ({"temperature": 0.0, "seeds": (0, 1)}, "greedy decoding gives every seed"),
        ({"suppress_positions": "middle"}, "suppress_positions='middle' is invalid"),
        ({"suppression_sizes": (0, 5)}, r"suppression_sizes=\[0, 5\] is invalid"),
        ({"suppression_sizes": (5, 5)}, "give distinct positive whole numbers"),
        ({"suppression_sizes": (2.5,)}, "give distinct positive whole numbers"),
    ],
)
def test_bad_steering_config_rejected(steering, message):
    with pytest.raises(ValueError, match=message):
        SteeringConfig(**steering)


def test_cli_attribute_json(tmp_path, capsys):
    config = tmp_path / "attribute.yaml"
    config.write_text(
        "n_prompts_per_group: 3\nmax_new_tokens: 16\nphase_scorer: lexical\n"
        "attribution: {method: integrated_gradients, ig_steps: 4, n_bootstrap: 50}\n"
    )
    out = tmp_path / "out"
    assert main(["attribute", "--config", str(config), "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["attribution"]["k"] == 10
    attribution = json.loads((out / "attribution.json").read_text())
    assert attribution["ranking"]["method"] == "integrated_gradients"
    assert len(attribution["selected_features"]) == 10
    assert not (out / "dose_response.png").exists()


def test_cli_steer_reports_nan_clamp_value(tmp_path, capsys):
    config = tmp_path / "steer.yaml"
    config.write_text("steering: {dose_multiples: [1.0, .nan]}\n")
    assert main(["steer", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "steering: dose_multiples contains nan" in capsys.readouterr().err


def test_side_effects_of_no_intervention_are_zero():
    loaded = load_model("organism:chat")
    prompts = [p for p in sample_prompts(0, "heldout", 2) if p.group == "benign"]
    generations = generate(loaded, [p.text for p in prompts], max_new_tokens=12, progress=False)
    responses = detect_responses(loaded, prompts, generations)
    clean = side_effects(loaded, responses, [])
    assert clean.kl == pytest.approx(0.0, abs=1e-6)
    assert clean.ce_loss == pytest.approx(clean.ce_loss_clean)
    sae = load_sae(SHIPPED_SAE)
    clamp = ClampFeatures(loaded_sae=sae, feature_ids=(0, 1, 2), values=(20.0, 20.0, 20.0))
    changed = side_effects(loaded, responses, [clamp])
    assert changed.kl > 0.01
    assert changed.ce_loss > clean.ce_loss
    assert changed.n_tokens == sum(len(r.generation.response_token_ids) for r in responses)


def test_feature_maxima_at_the_clamped_positions():
    import torch

    from safety_features.experiments.onsets import feature_maxima
    from safety_features.experiments.runs import context_for
    from safety_features.phases.detect import PhaseDetector

    loaded = load_model("organism:chat")
    sae = load_sae(SHIPPED_SAE)
    detector = PhaseDetector(loaded.tokenizer, None, "lexical")
    prompts = sample_prompts(0, "heldout", 2)
    context = context_for(loaded, sae, detector, prompts, 8, 16, SMALL.steering, False)
    context.run_baseline()
    maxima = feature_maxima(context, ("benign",), "last_prompt")
    expected = torch.zeros(sae.sae.cfg.d_sae)
    for response in context.baseline_of("benign", 0) + context.baseline_of("benign", 1):
        ids = torch.tensor([response.generation.prompt_token_ids])
        _, cache = loaded.model.run_with_cache(ids, names_filter=sae.hook_name)
        features = sae.sae.encode(cache[sae.hook_name][0, -1])
        expected = torch.maximum(expected, features.detach())
    assert torch.allclose(maxima, expected, atol=1e-4)


def test_matched_pool_falls_back_when_too_small():
    import torch

    from safety_features.experiments.onsets import matched_pool

    matched = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
    live = torch.ones(5)
    assert matched_pool(matched, live, [0], count=2, name="test") is matched
    assert matched_pool(matched, live, [0, 1], count=2, name="test") is live
