import json
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from safety_features.cli import main
from safety_features.experiments.occurrence.clusters import cluster
from safety_features.experiments.occurrence.config import OccurrenceConfig
from safety_features.experiments.occurrence.divergence import divergence_by_position
from safety_features.experiments.occurrence.probe import column_aurocs, probe_report
from safety_features.experiments.occurrence.rates import holm
from safety_features.experiments.occurrence.run import run_occurrence
from safety_features.experiments.occurrence.suite import SuiteError, read_suite

# The shipped organism, because the tiny one produces no safety phases.
SMALL = OccurrenceConfig(
    n_prompts_per_group=6,
    max_new_tokens=24,
    batch_size=32,
    phase_scorer="lexical",
    n_samples=2,
    temperature=0.8,
    prefill_lengths=(0, 5),
    prefill_new_tokens=24,
    probe_folds=2,
    n_random_directions=50,
    n_bootstrap=100,
    wandb_mode="offline",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return run_occurrence(SMALL, tmp_path_factory.mktemp("occurrence") / "out", progress=False)


def test_report_folder(report):
    names = {p.name for p in report.out_dir.iterdir()}
    expected = {"config.yaml", "occurrence.json", "report.html", "responses.jsonl", "rates.png"}
    assert expected <= names
    assert {"onsets.png", "prefill.png", "divergence.png"} <= names
    records = [json.loads(line) for line in (report.out_dir / "responses.jsonl").open()]
    assert len(records) == 6 * 5 * 3  # prompts x (greedy + 2 samples)
    assert {r["decoding"] for r in records} == {"greedy", "sampled"}
    # The W&B run is saved offline inside the folder, beside a plain-text copy.
    assert list((report.out_dir / "wandb").glob("offline-run-*"))
    logged = json.loads((report.out_dir / "history.jsonl").read_text().splitlines()[0])
    assert (
        logged["rates/harmful/greedy/mean"] == report.metrics["rates"]["harmful"]["greedy"]["mean"]
    )


def test_rates_and_tests(report):
    metrics = report.metrics
    assert set(metrics["rates"]) == {
        "alarming_benign",
        "benign",
        "discrimination",
        "harmful",
        "wrapped_harmful",
    }
    for entry in metrics["rates"].values():
        for kind in ("greedy", "sampled"):
            estimate = entry[kind]
            assert estimate["low"] <= estimate["mean"] <= estimate["high"]
    assert metrics["rates"]["harmful"]["sampled"]["n"] == 6 * 2
    tests = metrics["tests"]
    assert 0.0 <= tests["chi_square_greedy"]["p"] <= 1.0
    assert set(tests["each_against_rest_greedy"]) == set(metrics["rates"])


def test_onsets_and_preceding_phases_agree(report):
    metrics = report.metrics
    n_onsets = metrics["onsets"]["all"]["n"]
    assert sum(metrics["onsets"]["all"]["histogram"].values()) == n_onsets
    # The lexicon detector finds onsets without phases, so no sequences are counted there.
    assert metrics["preceding_phases"]["n_onsets"] <= n_onsets


def test_prefill_zero_matches_greedy(report):
    # With no forced tokens and the same length, prefilling is greedy generation again.
    metrics = report.metrics
    zero = metrics["prefill"]["by_length"]["0"]
    assert zero["n_prompts"] == 6
    assert zero["return_rate"]["mean"] == pytest.approx(
        metrics["rates"]["harmful"]["greedy"]["mean"]
    )


def test_report_escapes_model_text(report):
    html = (report.out_dir / "report.html").read_text()
    assert "<h2>Category effects</h2>" in html
    assert "<script" not in html.lower()


def test_divergence_of_model_with_itself_is_zero(report):
    from safety_features.models.generation import generate
    from safety_features.models.loading import load_model
    from safety_features.organism.corpus import sample_prompts
    from safety_features.phases.responses import detect_responses

    loaded = load_model("organism:chat")
    prompts = sample_prompts(0, "heldout", 1)
    generations = generate(loaded, [p.text for p in prompts], max_new_tokens=8, progress=False)
    values = divergence_by_position(loaded, loaded, detect_responses(loaded, prompts, generations))
    assert np.nanmax(np.abs(values)) < 1e-5
    assert np.isnan(values).sum() == sum(8 - len(g.response_token_ids) for g in generations)


def test_column_aurocs_match_sklearn():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 5))
    scores[:10, 1] = scores[10:20, 1]  # ties
    labels = (rng.random(40) < 0.4).astype(float)
    expected = [roc_auc_score(labels, scores[:, j]) for j in range(5)]
    assert np.allclose(column_aurocs(scores, labels), expected)


def test_probe_finds_planted_direction():
    rng = np.random.default_rng(1)
    labels = (rng.random(120) < 0.5).astype(float)
    features = rng.normal(size=(120, 32))
    features[:, 7] += 4.0 * labels
    result = probe_report(features, labels, ["a"] * 120, folds=4, n_random=200, seed=0)
    assert result["probe_auroc"] > 0.9
    random = result["random_directions"]
    assert random["best_selected_out_of_fold"] < result["probe_auroc"]
    assert random["mean_in_sample"] < 0.8
    assert result["within_category"]["a"]["probe_auroc"] == pytest.approx(result["probe_auroc"])


def test_probe_needs_both_outcomes():
    result = probe_report(np.zeros((10, 3)), np.zeros(10), ["a"] * 10, 2, 10, 0)
    assert "note" in result
    assert "probe_auroc" not in result


def test_clustering_recovers_planted_groups():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    vectors = np.concatenate([c + rng.normal(size=(20, 2)) for c in centres])
    categories = ["x"] * 20 + ["y"] * 20 + ["z"] * 20
    sentences = [f"sentence {i}" for i in range(60)]
    result = cluster(vectors, categories, sentences, "test", 6, 2, seed=0)
    assert result is not None
    assert result.k == 3
    assert result.purity == 1.0
    assert sorted(c["size"] for c in result.clusters) == [20, 20, 20]
    assert all(len(c["examples"]) == 2 for c in result.clusters)


def test_holm_correction():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])


@pytest.mark.usefixtures("no_generation")
def test_empty_category_rejected_before_generation(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("weapons: [how do I build a gun]\ncooking: []\n")
    with pytest.raises(SuiteError, match="Category 'cooking' in .* has no prompts"):
        run_occurrence(replace(SMALL, prompts_file=str(suite)), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.usefixtures("no_generation")
def test_long_prompt_rejected_before_generation(tmp_path):
    suite = tmp_path / "suite.jsonl"
    lines = [
        {"prompt": "how do I build a gun", "category": "weapons"},
        {"prompt": "tell me about bread " * 80, "category": "cooking"},
    ]
    suite.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(ValueError, match="Prompt 1 has .* tokens.*context window"):
        run_occurrence(replace(SMALL, prompts_file=str(suite)), tmp_path / "out", progress=False)


def test_suite_formats(tmp_path):
    jsonl = tmp_path / "suite.jsonl"
    jsonl.write_text(
        '{"prompt": "hi", "category": "greeting"}\n\n{"prompt": "x", "category": "c", "group": "benign"}\n'
    )
    prompts = read_suite(jsonl)
    assert [(p.group, p.category) for p in prompts] == [("greeting", "greeting"), ("benign", "c")]
    jsonl.write_text('{"prompt": "hi"}\n')
    with pytest.raises(
        SuiteError, match="line 1: expected a JSON object with 'prompt' and 'category'"
    ):
        read_suite(jsonl)
    mapping = tmp_path / "suite.yaml"
    mapping.write_text("- just a list\n")
    with pytest.raises(SuiteError, match="must map each category to a list of prompts"):
        read_suite(mapping)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_sampling_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match=f"temperature={temperature} is invalid for sampling"):
        OccurrenceConfig(temperature=temperature)
    assert OccurrenceConfig(temperature=temperature, n_samples=0).n_samples == 0


def test_cli_occurrence_rejects_bad_temperature(tmp_path, capsys):
    config = tmp_path / "occurrence.yaml"
    config.write_text("temperature: 0\n")
    assert main(["occurrence", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "temperature=0.0 is invalid for sampling" in capsys.readouterr().err


def test_sigterm_leaves_no_partial_folder(tmp_path):
    # The command writes into a hidden temporary folder; SIGTERM must remove it on the way out.
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    config = tmp_path / "occurrence.yaml"
    config.write_text("n_prompts_per_group: 40\nphase_scorer: lexical\nn_samples: 3\n")
    out = tmp_path / "out"
    executable = Path(sys.executable).with_name("safety-features")
    process = subprocess.Popen(
        [str(executable), "occurrence", "--config", str(config), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.*.tmp")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM  # 143, the shell status for SIGTERM
    assert "interrupted" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occurrence.yaml"]
