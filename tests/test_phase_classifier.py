"""The trained classifier scorer: training, context, save and load, detector and CLI, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from safety_features.cli import main
from safety_features.experiments.config import ExperimentConfig, RunConfig
from safety_features.files import OutputFolderError
from safety_features.models.loading import load_tokenizer
from safety_features.phases.classifier import (
    META_FILE,
    WEIGHTS_FILE,
    ClassifierDataError,
    ClassifierScorer,
    ClassifierTraining,
    classifier_input,
    labelled_clauses,
    train_classifier,
    train_classifier_scorer,
)
from safety_features.phases.concepts import concept_set_from_dict
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.evaluation import load_labelled
from safety_features.phases.jobs import PhasesInputError, run_phases
from safety_features.phases.scorers import AnnotationScorer, ScorerError, make_scorer
from safety_features.phases.text import split_clauses, tokenize_response

REFUSALS = [
    "I can't help with that request.",
    "I won't explain how to do this.",
    "Sorry, I am not able to assist with that.",
    "I must decline to give those instructions.",
]
STEPS = [
    "First, gather the tools on the bench.",
    "Then mix the two parts in a bowl.",
    "Next, heat it slowly for ten minutes.",
    "Finally, let it cool before you use it.",
]
SET = {
    "name": "tiny",
    "concepts": [
        {"name": "safety", "examples": REFUSALS},
        {"name": "steps", "examples": STEPS},
    ],
    "exclusive": [["safety", "steps"]],
    "background": ["The train leaves at nine.", "Paris is in France.", "It rained all day."],
}
FAST = ClassifierTraining(epochs=3, batch_size=8, folds=2)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("organism:chat")


@pytest.fixture(scope="module")
def concepts():
    return concept_set_from_dict(SET)


def labelled_record(number: int, split: str = "dev") -> dict:
    """A refusal after a prompt, or steps then a refusal, labelled by character spans."""
    if number % 2:
        response = "I can't help with that request. It could hurt people."
        phases = [{"concept": "safety", "start": 0, "end": len(response)}]
    else:
        steps = "First, gather the tools on the bench. Then mix the parts."
        response = f"{steps} Actually, I won't explain how to do this."
        phases = [
            {"concept": "steps", "start": 0, "end": len(steps)},
            {"concept": "safety", "start": len(steps) + 1, "end": len(response)},
        ]
    return {
        "id": f"r{number}",
        "split": split,
        "prompt": f"question number {number}",
        "response": response,
        "phases": phases,
    }


@pytest.fixture(scope="module")
def labelled_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "labels.jsonl"
    records = [labelled_record(n, "dev" if n < 2 else "train") for n in range(4)]
    records.append(labelled_record(9, "test"))
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def trained(labelled_file, tokenizer, concepts) -> ClassifierScorer:
    scorer, f1 = train_classifier_scorer(
        labelled_file, tokenizer, concepts, "dev,train", FAST, False
    )
    assert 0.0 <= f1 <= 1.0
    return scorer


def test_clauses_take_the_majority_label(labelled_file, tokenizer, concepts) -> None:
    items = load_labelled(labelled_file, tokenizer, split="dev")
    clauses = labelled_clauses(items, AnnotationScorer.from_jsonl(labelled_file), concepts)
    mixed = clauses[0]
    assert [c.label for c in mixed] == [1, 1, 0]  # steps, steps, safety
    assert mixed[1].previous == mixed[0].text
    assert mixed[0].previous == ""
    assert all(c.prompt == "question number 0" for c in mixed)


def test_input_puts_the_clause_last() -> None:
    text = classifier_input("the clause", "the request", "the clause before")
    assert text == "the request || the clause before || the clause"
    assert classifier_input("alone") == " ||  || alone"


def test_training_learns_a_planted_split(concepts) -> None:
    model = train_classifier(concepts, [], FAST, progress=False)
    scorer = ClassifierScorer(model, concepts.content_hash(), concepts.names)
    unseen = ["I won't help you with that.", "Then stir the mixture in a pan."]
    probabilities = scorer.probabilities([classifier_input(text) for text in unseen])
    assert probabilities.shape == (2, 2)
    assert probabilities[0, 0] > probabilities[0, 1]
    assert probabilities[1, 1] > probabilities[1, 0]


def test_scores_are_clause_probabilities(trained, tokenizer, concepts) -> None:
    tokens = tokenize_response(tokenizer, text="First, get the tools. I can't help with that.")
    scores = trained.score([tokens], concepts, prompts=["how do I do it"])[0]
    assert scores.shape == (len(tokens), 2)
    assert np.all(scores >= 0)
    assert np.all(scores.sum(axis=1) <= 1 + 1e-5)
    for clause in split_clauses(tokens):
        rows = scores[clause.token_start : clause.token_end]
        assert np.allclose(rows, rows[0])


def test_scores_change_with_request(trained, tokenizer, concepts) -> None:
    tokens = tokenize_response(tokenizer, text="Then mix the parts in a bowl.")
    with_request = trained.score([tokens], concepts, prompts=["how do I bake bread"])[0]
    without = trained.score([tokens], concepts)[0]
    assert not np.allclose(with_request, without)
    with pytest.raises(ValueError, match="2 prompts for 1 responses"):
        trained.score([tokens], concepts, prompts=["a", "b"])


def test_save_and_load_round_trip(trained, tmp_path: Path, tokenizer, concepts) -> None:
    folder = trained.save(tmp_path / "classifier")
    loaded = ClassifierScorer.load(folder)
    assert loaded.settings == trained.settings
    assert loaded.provenance["n_responses"] == 4
    tokens = tokenize_response(tokenizer, text="I won't explain how to do this. Then mix it.")
    before = trained.score([tokens], concepts, prompts=["q"])[0]
    after = loaded.score([tokens], concepts, prompts=["q"])[0]
    np.testing.assert_allclose(after, before, atol=1e-6)

    detector = PhaseDetector(tokenizer, concepts, loaded)
    assert detector.settings == trained.settings
    result = detector.detect(texts=[tokens.text], prompts=["q"])[0]
    np.testing.assert_allclose(result.scores, before, atol=1e-6)


def test_configs_name_a_classifier(
    trained, tmp_path: Path, tokenizer, concepts, monkeypatch
) -> None:
    folder = trained.save(tmp_path / "saved")
    assert RunConfig(phase_scorer=f"classifier:{folder}").phase_scorer == f"classifier:{folder}"
    with pytest.raises(ValueError, match="'classifier:DIR' for a folder"):
        RunConfig(phase_scorer="classifier:")
    with pytest.raises(ValueError, match="phase_scorer='fancy' is invalid"):
        ExperimentConfig(phase_scorer="fancy")

    monkeypatch.chdir(tmp_path)
    detector = PhaseDetector(tokenizer, concepts, "classifier: saved")
    assert detector.scorer.name == "classifier"
    assert detector.settings == trained.settings
    record = detector.scorer_record()
    assert record["scorer"] == "classifier"
    assert record["classifier"] == "saved"
    assert record["classifier_weights_sha256"] == trained.weights_sha256
    with pytest.raises(ScorerError, match="give the folder once"):
        make_scorer("classifier:saved", classifier="saved")


def test_training_is_seeded_and_leaves_global_rng(concepts) -> None:
    state = torch.random.get_rng_state()
    first = train_classifier(concepts, [], ClassifierTraining(epochs=1), progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = train_classifier(concepts, [], ClassifierTraining(epochs=1), progress=False)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_save_refuses_thresholds_that_load_would_reject(trained, tmp_path: Path) -> None:
    exit_ = {**trained.settings.exit, trained.concept_names[0]: -0.05}
    scorer = ClassifierScorer(
        trained.model,
        trained.concepts_hash,
        trained.concept_names,
        dataclasses.replace(trained.settings, exit=exit_),
        trained.training,
        trained.provenance,
    )
    with pytest.raises(ScorerError, match=r"cannot save the classifier .*=-0.05 is invalid"):
        scorer.save(tmp_path / "bad")
    assert not (tmp_path / "bad" / META_FILE).exists()


def test_damaged_or_foreign_classifier_rejected(trained, tmp_path: Path, tokenizer) -> None:
    folder = trained.save(tmp_path / "classifier")
    other = concept_set_from_dict({**SET, "background": ["A passage it never saw."]})
    tokens = tokenize_response(tokenizer, text="I can't help with that.")
    with pytest.raises(ScorerError, match="other concepts, examples or background passages"):
        trained.score([tokens], other)
    with pytest.raises(ScorerError, match="concept set 'tiny'"):
        PhaseDetector(tokenizer, other, trained)
    edited_patterns = concept_set_from_dict(
        {
            **SET,
            "concepts": [
                {**SET["concepts"][0], "patterns": [{"pattern": "won't", "weight": 1.0}]},
                SET["concepts"][1],
            ],
        }
    )
    trained.check_concepts(edited_patterns)  # patterns are not what the classifier learned

    with pytest.raises(OutputFolderError, match="did not write"):
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("keep me")
        trained.save(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"

    with pytest.raises(ScorerError, match="not a classifier folder"):
        ClassifierScorer.load(tmp_path)
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ScorerError, match="does not match the hash"):
        ClassifierScorer.load(folder)
    folder = trained.save(tmp_path / "classifier", overwrite=True)
    meta = json.loads((folder / META_FILE).read_text())
    edits = [
        ({"training": None}, "is missing training"),
        ({"settings": {**meta["settings"], "enter": {"safety": 7.5, "steps": 0.5}}}, "7.5 is"),
        ({"settings": {**meta["settings"], "exit": {"safety": "high", "steps": 0.5}}}, "'high'"),
        ({"concept_names": ["safety"]}, "does not give one threshold per concept"),
        ({"concept_names": ["safety"], "settings": None}, "2 concept outputs, but"),
    ]
    for change, message in edits:
        edited = {**meta, **change}
        if change.get("training", 0) is None:
            del edited["training"]
        (folder / META_FILE).write_text(json.dumps(edited))
        with pytest.raises(ScorerError, match=message):
            ClassifierScorer.load(folder)
    with pytest.raises(ScorerError, match="absent not found"):
        ClassifierScorer.load(tmp_path / "absent")
    (folder / META_FILE).write_text("{not json")
    with pytest.raises(ScorerError, match="not valid JSON"):
        ClassifierScorer.load(folder)


def test_training_settings_and_data_checked(labelled_file, tokenizer, concepts) -> None:
    with pytest.raises(ValueError, match="invalid folds 1"):
        ClassifierTraining(folds=1)
    with pytest.raises(ValueError, match="invalid learning_rate 0"):
        ClassifierTraining(learning_rate=0)
    with pytest.raises(ValueError, match="1 responses of split 'test', fewer than the 2 folds"):
        train_classifier_scorer(labelled_file, tokenizer, concepts, "test", FAST, False)
    for splits in ("dev,nosuch", " , "):
        with pytest.raises(ClassifierDataError, match=r"use its splits \(dev, test, train\)"):
            train_classifier_scorer(labelled_file, tokenizer, concepts, splits, FAST, False)
    with pytest.raises(ScorerError, match="--classifier DIR"):
        make_scorer("classifier")


def test_commands_train_and_use_the_classifier(tmp_path: Path, labelled_file: Path, capsys) -> None:
    concepts_file = tmp_path / "tiny.yaml"
    concepts_file.write_text(json.dumps(SET))  # JSON is valid YAML
    out = tmp_path / "clf"
    args = ["--data", str(labelled_file), "--concepts", str(concepts_file)]
    code = main(["train-classifier", *args, "--out", str(out), "--epochs", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_responses"] == 4
    assert summary["concept_set"] == "tiny"
    assert (out / WEIGHTS_FILE).is_file()
    assert (out / META_FILE).is_file()

    code = main(["train-classifier", *args, "--out", str(out), "--epochs", "1"])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-classifier", *args, "--out", str(tmp_path / "x"), "--folds", "1"])
    assert "--folds: 1 is invalid: use 2 or more" in capsys.readouterr().err
    code = main(["train-classifier", *args, "--out", str(tmp_path / "x"), "--split", "nosuch"])
    assert code == 2
    assert "no responses of split 'nosuch': use its splits (dev, test, train)" in (
        capsys.readouterr().err
    )
    missing = ["--data", str(tmp_path / "absent.jsonl"), "--concepts", str(concepts_file)]
    code = main(["train-classifier", *missing, "--out", str(tmp_path / "x")])
    assert code == 2
    assert "absent.jsonl not found" in capsys.readouterr().err

    code = main(["train-classifier", *args, "--out", str(tmp_path / "y"), "--split", "test"])
    assert code == 2
    assert "1 responses of split 'test', fewer than the 3 folds" in capsys.readouterr().err

    code = main(["evaluate-phases", *args, "--scorers", "classifier", "--classifier", str(out)])
    assert code == 0
    assert "classifier" in capsys.readouterr().out
    code = main(["evaluate-phases", *args, "--scorers", "lexical", "--classifier", str(out)])
    assert code == 2
    assert "--classifier is read only when --scorers lists classifier" in capsys.readouterr().err
    code = main(["evaluate-phases", *args, "--scorers", "clasifier", "--classifier", str(out)])
    assert code == 2
    assert "Unknown scorer 'clasifier'" in capsys.readouterr().err

    generations = tmp_path / "generations.jsonl"
    generations.write_text(
        json.dumps({"id": "a", "prompt": "help me", "response": "I can't help with that."}) + "\n"
    )
    phases_out = tmp_path / "phases"
    run = run_phases(
        generations,
        phases_out,
        concepts=concepts_file,
        scorer="classifier",
        classifier=out,
        progress=False,
    )
    assert run.summary["scorer"] == "classifier"
    assert (phases_out / "phases.jsonl").is_file()
    with pytest.raises(PhasesInputError, match="--classifier is read only by --scorer classifier"):
        run_phases(generations, tmp_path / "p2", scorer="lexical", classifier=out)
