import json

import pytest
import yaml

from safety_features.cli import main
from safety_features.experiments.config import AttributionConfig, RunConfig, SteeringConfig
from safety_features.experiments.main_job import RunFolderError, obtain_sae, run_main_job
from safety_features.lookup.store import open_index
from safety_features.report import card_rows, markdown_card_row
from safety_features.saes.loading import SAELoadError
from tests.conftest import TINY_SAE_CONFIG, tiny_sae_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    # The shipped organism, because the tiny one is too undertrained to produce safety phases.
    cache = tmp_path_factory.mktemp("activations")
    config = RunConfig(
        model="organism:chat",
        n_prompts_per_group=3,
        max_new_tokens=16,
        batch_size=8,
        sae_path=None,
        cross_check_scorer="lexical",
        sae_training=tiny_sae_config(cache),
        attribution=AttributionConfig(n_bootstrap=50),
        steering=SteeringConfig(
            n_features=4,
            n_random_controls=1,
            suppression_sizes=(2,),
            benign_features=True,
            dose_multiples=(1.0, 2.0),
            trigger_multiple=2.0,
            direction_coefficients=(1.0,),
            direction_prompts_per_group=4,
            n_side_effect_texts=3,
            n_bootstrap=50,
        ),
    )
    out = tmp_path_factory.mktemp("run")
    return config, run_main_job(config, out, progress=False)


def test_run_folder_files(tiny_run):
    _, result = tiny_run
    for name in (
        "config.yaml",
        "responses.jsonl",
        "attribution.json",
        "attribution.png",
        "dose_response.png",
        "suppression_curve.png",
        "interventions.jsonl",
        "manifest.json",
        "metrics.json",
        "report.md",
        "report.html",
        "phases.html",
    ):
        assert (result.out_dir / name).is_file(), name
    assert (result.out_dir / "sae" / "sae_weights.safetensors").is_file()


def test_metrics_fields(tiny_run):
    config, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    conditions = metrics["conditions"]
    for name in ("baseline_harmful", "suppress_features", "trigger_features_x2"):
        estimate = conditions[name]["transition_probability"]
        assert 0.0 <= estimate["low"] <= estimate["mean"] <= estimate["high"] <= 1.0
    assert set(metrics["dose_response"]) == {"features", "refusal_direction"}
    assert metrics["dose_response"]["features"]["strengths"] == [1.0, 2.0]
    assert len(metrics["clamped_features"]) == config.steering.n_features
    assert (
        metrics["summary"]["suppressed_harmful"]
        == (conditions["suppress_features"]["transition_probability"]["mean"])
    )
    assert metrics["sae_origin"] == "trained"
    assert metrics["runtime_seconds"] > 0
    assert set(metrics["stage_seconds"]) == {
        "generate_and_detect",
        "sae",
        "occurrence",
        "attribute",
        "steer",
        "lookup",
    }


def test_headline_names_trigger_multiple(tiny_run):
    _, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    rate = metrics["conditions"]["trigger_features_x2"]["transition_probability"]["mean"]
    report = (result.out_dir / "report.md").read_text()
    assert f"| top features clamped to 2 x max, benign prompts | {rate:.1%} |" in report
    rate = metrics["summary"]["refusal_direction_subtracted_harmful"]["x1"]
    assert f"| refusal direction subtracted (x1), harmful prompts | {rate:.1%} |" in report
    assert metrics["clamped_selection"] == "specific_attribution"
    assert "The clamped features are the features with the highest attribution among" in report
    projection = metrics["refusal_direction"]["mean_projection"]
    expected = f"{projection['harmful']:.2f} / {projection['benign']:.2f}"
    assert (
        f"| refusal direction: mean projection of harmful / benign prompts | {expected} |" in report
    )
    split = metrics["refusal_direction"]["gap_split"]
    assert split["zeroed"] == metrics["clamped_features"]
    parts = f"{split['raised']:.2f} / {split['lowered']:.2f} / {split['error']:.2f}"
    assert (
        f"| refusal direction: gap from rising / falling features / error term | {parts} |"
        in report
    )
    # The tiny SAE trained here has no feature that rises on harmful prompts at the last prompt
    # position, so the condition and its row are skipped. Another tiny SAE could have some.
    if split["n_raised"]:
        rate = metrics["summary"]["all_raised_zeroed_harmful"]
        row = f"| all {split['n_raised']} rising features = 0, harmful prompts | {rate:.1%} |"
        assert row in report
    else:
        assert metrics["refusal_direction"]["all_raised_zeroed"] is None
        assert "all_raised_zeroed_harmful" not in metrics["summary"]
        assert "rising features = 0" not in report


def test_lookup_stage_outputs(tiny_run, capsys):
    _, result = tiny_run
    out = result.out_dir
    metrics = json.loads((out / "metrics.json").read_text())
    features = metrics["clamped_features"]

    # The index names the SAE where the run folder keeps it, with matching weights.
    index = open_index(out / "index", out / "sae")
    assert index.meta["sae"]["path"] == str(out / "sae")
    assert index.meta["corpus"]["n_transcripts"] == len(
        (out / "responses.jsonl").read_text().splitlines()
    )
    assert [card["feature"] for card in metrics["clamped_feature_cards"]] == features

    # The dashboard names the final run folder and the run's own attribution ranks.
    order = json.loads((out / "attribution.json").read_text())["order"]
    dashboard = json.loads((out / "dashboard" / "dashboard.json").read_text())
    assert dashboard["index"] == str(out / "index")
    for feature in features:
        page = (out / "dashboard" / f"feature-{feature:06d}.html").read_text()
        assert f"{order.index(feature) + 1} of {len(order)} in {out}</li>" in page

    report = (out / "report.md").read_text()
    table = report.split("## The clamped features")[1].split("## Sample responses")[0]
    assert sum(line.startswith(f"| {f} |") for f in features for line in table.splitlines()) == len(
        features
    )

    # The lookup command reads the run's own attribution ranks.
    assert (
        main(
            [
                "lookup",
                str(features[0]),
                "--index",
                str(out / "index"),
                "--runs",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    card = json.loads(capsys.readouterr().out)
    assert card["attribution_ranks"][0]["rank"] is not None


def test_responses_records(tiny_run):
    config, result = tiny_run
    records = [
        json.loads(line) for line in (result.out_dir / "responses.jsonl").read_text().splitlines()
    ]
    assert len(records) == 5 * config.n_prompts_per_group
    for record in records:
        assert record["safety_phase"] == (record["onset_token"] is not None)
        assert len(record["response_token_ids"]) <= config.max_new_tokens
        # The phase detector, not the lexicon: the onset is the first safety-concept phase.
        safety_phases = [p for p in record["phases"] if p["concept"] in ("safety", "equality")]
        if record["safety_phase"]:
            assert record["onset_token"] == safety_phases[0]["token_start"]
        else:
            assert safety_phases == []


def test_phase_view_in_report(tiny_run):
    _, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert metrics["phase_detector"]["scorer"] == "embedding"
    report = (result.out_dir / "report.html").read_text()
    assert 'class="tok"' in report
    assert 'href="phases.html"' in report
    assert "## Phases in the baseline responses" in (result.out_dir / "report.md").read_text()


def test_suppression_curve_in_report(tiny_run):
    _, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert metrics["suppression_curve"]["sizes"] == [2, 4]
    markdown = (result.out_dir / "report.md").read_text()
    assert "![suppression curve](suppression_curve.png)" in markdown
    assert "### Suppression curve (harmful prompts, 95% intervals)" in markdown
    assert '<img src="suppression_curve.png"' in (result.out_dir / "report.html").read_text()
    size = metrics["suppression_curve"]["smallest_size_at_goal"]
    expected = str(size) if size is not None else "none of 2, 4"
    assert f"for harmful prompts <= 10% | {expected} |" in markdown


def test_benign_features_in_headline(tiny_run):
    _, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    rate = metrics["summary"]["benign_features_clamped_harmful"]
    markdown = (result.out_dir / "report.md").read_text()
    assert (
        f"| benign-specific features clamped to 2 x max, harmful prompts | {rate:.1%} |" in markdown
    )


def test_cross_check_column_in_report(tiny_run):
    _, result = tiny_run
    markdown = (result.out_dir / "report.md").read_text()
    assert "| phase duration (tokens) | rate, lexical scorer |" in markdown
    assert "last column: lexical scorer)" in markdown
    assert "<th>rate, lexical scorer</th>" in (result.out_dir / "report.html").read_text()


def test_interventions_conditions(tiny_run):
    _, result = tiny_run
    conditions = {
        json.loads(line)["condition"]
        for line in (result.out_dir / "interventions.jsonl").read_text().splitlines()
    }
    # The tiny SAE may have too few features firing on benign prompts for a random set.
    assert conditions - {"benign_random_0_x2", "benign_random_0_zeroed"} == {
        "suppress_features",
        "suppress_activation_difference",
        "suppress_random_0",
        "suppress_top_2",
        "suppress_random_top_2",
        "trigger_features_x1",
        "trigger_features_x2",
        "trigger_random_0",
        "suppress_features_on_benign",
        "benign_features_x2",
        "benign_features_zeroed",
        "ablate_refusal_direction",
        "add_refusal_direction_x1",
        "subtract_refusal_direction_x1",
        "ablate_refusal_direction_on_benign",
    }


def test_resolved_config_saved(tiny_run):
    config, result = tiny_run
    saved = yaml.safe_load((result.out_dir / "config.yaml").read_text())
    assert saved["n_prompts_per_group"] == config.n_prompts_per_group
    assert saved["sae_training"]["hook_name"] == TINY_SAE_CONFIG.hook_name


def test_finished_run_not_overwritten(tiny_run):
    config, result = tiny_run
    before = (result.out_dir / "metrics.json").read_text()
    with pytest.raises(RunFolderError, match="--overwrite"):
        run_main_job(config, result.out_dir, progress=False)
    assert (result.out_dir / "metrics.json").read_text() == before


def test_card_row_stays_on_one_line():
    card = {
        "feature": 7,
        "density": 0.01,
        "enrichment_auroc": {"safety": 0.6, "onset_within_5": 0.7},
        "decoder_top_tokens": ["a|b", "`c`"],
        "top_context": {"tokens": ["line\r", "two\r\n", "<b>", "x|y"], "centre": 2, "value": 1.0},
    }
    (row,) = card_rows({"clamped_feature_cards": [card]})
    assert row[-1] == "line two [<b>]x|y"
    cells = markdown_card_row(row)
    assert cells[-1] == "`line two [<b>]x\\|y`"
    assert cells[-2] == "`'a\\|b' ''c''`"


def test_report_escapes_model_text(tiny_run):
    _, result = tiny_run
    report = (result.out_dir / "report.html").read_text()
    assert "<script" not in report.lower()


def test_cli_unknown_key(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("n_prompt_per_group: 3\n")
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "run.yaml: Unknown key n_prompt_per_group" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_missing_model(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tmp_path / 'no-such-checkpoint'}\n")
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "no-such-checkpoint not found" in capsys.readouterr().err


def test_cli_model_without_onsets(tiny_organism_dir, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        f"model: {tiny_organism_dir / 'chat'}\nbase_model: null\nn_prompts_per_group: 2\n"
        "max_new_tokens: 4\nsae_path: null\n"
        "sae_training:\n  hook_name: blocks.1.hook_resid_pre\n  d_sae: 32\n  k: 4\n  training_tokens: 512\n"
        "  batch_size: 64\n  tracking: {wandb_mode: disabled}\n"
        f"  data: {{n_prompts_per_group: 2, max_new_tokens: 4, cache_dir: {tmp_path / 'cache'}}}\n"
    )
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert (
        "No safety onsets in the baseline responses of harmful prompts" in capsys.readouterr().err
    )


def test_failed_overwrite_keeps_old_run(tiny_run, tmp_path):
    _, result = tiny_run
    before = {p.name: p.read_bytes() for p in result.out_dir.iterdir() if p.is_file()}
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tmp_path / 'no-such-checkpoint'}\n")
    assert main(["run", "--config", str(config), "--out", str(result.out_dir), "--overwrite"]) == 2
    after = {p.name: p.read_bytes() for p in result.out_dir.iterdir() if p.is_file()}
    assert after == before
    leftovers = [
        p.name
        for p in result.out_dir.parent.iterdir()
        if p.name.startswith(f".{result.out_dir.name}.")
    ]
    assert leftovers == []


def test_failed_run_writes_nothing(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tmp_path / 'no-such-checkpoint'}\n")
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


def test_run_keeps_foreign_folder(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["run", "--out", str(foreign)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"


def test_sae_quality_in_report(tiny_run):
    # The tiny run trains its SAE, so the report shows the metrics that training measured.
    _, result = tiny_run
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    quality = metrics["sae_quality"]
    assert quality["architecture"] == "topk"
    assert quality["d_sae"] == 64
    assert quality["ce_loss_score"] > 0
    report = (result.out_dir / "report.md").read_text()
    assert (
        f"| explained variance, held-out transcripts | {quality['explained_variance']:.3f} |"
        in report
    )
    assert "<h2>SAE</h2>" in (result.out_dir / "report.html").read_text()


def test_short_occurrence_report(tiny_run):
    config, result = tiny_run
    occurrence = result.out_dir / "occurrence"
    for name in ("occurrence.json", "report.html", "rates.png", "prefill.png", "divergence.png"):
        assert (occurrence / name).is_file(), name
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert set(metrics["occurrence"]["prefill"]["by_length"]) == {"0", "10", "20"}
    assert metrics["occurrence"]["n_prompts"] == 5 * config.n_prompts_per_group
    assert "## When the safety phase occurs" in (result.out_dir / "report.md").read_text()


def test_cli_base_model_with_other_tokenizer(tiny_organism_dir, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {tiny_organism_dir / 'chat'}\nsae_path: null\n")
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "have different tokenizers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("safety-features 0.")


def test_missing_sae_path_warns_or_stops(tiny_chat, tmp_path, caplog):
    missing = tmp_path / "no-such-sae"
    stop = RunConfig(sae_path=str(missing), train_sae_if_missing=False)
    with pytest.raises(SAELoadError, match="no-such-sae"):
        obtain_sae(stop, tiny_chat, tmp_path / "run-stop", progress=False)

    train = RunConfig(sae_path=str(missing), sae_training=tiny_sae_config(tmp_path / "activations"))
    with caplog.at_level("WARNING", logger="safety_features.experiments.main_job"):
        loaded_sae, origin = obtain_sae(train, tiny_chat, tmp_path / "run-train", progress=False)
    assert origin == "trained"
    assert loaded_sae.hook_name == tiny_sae_config(tmp_path).hook_name
    assert "set train_sae_if_missing: false to stop instead" in caplog.text
