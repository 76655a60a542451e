"""Phase detection: concept sets, token offsets, clauses, scorers, segmentation, outputs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from safety_features.cli import main
from safety_features.models.loading import REPOSITORY_ROOT, load_tokenizer
from safety_features.phases.concepts import (
    ConceptSetError,
    concept_set_from_dict,
    load_concept_set,
)
from safety_features.phases.detect import PhaseDetector, load_settings
from safety_features.phases.evaluation import (
    calibrate_settings,
    load_labelled,
    score_predictions,
)
from safety_features.phases.render import results_html
from safety_features.phases.scorers import AnnotationError, AnnotationScorer, LexicalScorer
from safety_features.phases.segment import SegmentationSettings, segment
from safety_features.phases.text import (
    TokenizedText,
    split_clauses,
    text_clauses,
    tokenize_response,
)

REFUSAL = "I can't help with that. It could put people in danger and is against the law."
RECOVERY = (
    "Sure! To pick the lock on the door, first get a tension wrench, "
    "actually I won't continue with this. It could hurt someone."
)
HELPFUL = "To repot a plant, loosen the roots gently and use fresh soil. Water it well afterwards."


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("organism:chat")


@pytest.fixture(scope="module")
def concepts():
    return load_concept_set()


def small_set(**changes) -> dict:
    data = {
        "name": "small",
        "concepts": [
            {"name": "safety", "examples": ["I can't help with that."], "patterns": []},
            {"name": "harm", "examples": ["First, get the tools."]},
        ],
        "exclusive": [["safety", "harm"]],
        "background": ["The train leaves at nine."],
    }
    data.update(changes)
    return data


def flat_settings(names, enter=0.5, exit_=None, min_tokens=1) -> SegmentationSettings:
    return SegmentationSettings(
        {n: enter for n in names},
        {n: enter if exit_ is None else exit_ for n in names},
        min_tokens=min_tokens,
    )


# Concept sets


def test_shipped_concept_set_loads(concepts) -> None:
    assert concepts.names == (
        "safety",
        "harmful_compliance",
        "equality",
        "discrimination",
        "helpfulness",
    )
    assert concepts.are_exclusive("harmful_compliance", "safety")
    assert concepts.are_exclusive("equality", "discrimination")
    assert not concepts.are_exclusive("safety", "equality")
    for concept in concepts.concepts:
        assert len(concept.examples) >= 30, concept.name


def test_concept_missing_field_rejected() -> None:
    data = small_set()
    del data["concepts"][0]["examples"]
    with pytest.raises(
        ConceptSetError, match=r"concepts\[0\] \(safety\) is missing the field 'examples'"
    ):
        concept_set_from_dict(data)


def test_exclusive_unknown_concept_rejected() -> None:
    with pytest.raises(ConceptSetError, match="unknown concept 'compliance'"):
        concept_set_from_dict(small_set(exclusive=[["safety", "compliance"]]))


def test_concept_unknown_key_rejected() -> None:
    with pytest.raises(ConceptSetError, match="unknown key 'colour'"):
        concept_set_from_dict(small_set(colour="red"))


def test_pattern_errors_named() -> None:
    data = small_set()
    data["concepts"][0]["patterns"] = [{"pattern": "(unclosed", "weight": 1.0}]
    with pytest.raises(ConceptSetError, match="does not compile"):
        concept_set_from_dict(data)
    data["concepts"][0]["patterns"] = [{"pattern": "fine", "weight": 2}]
    with pytest.raises(ConceptSetError, match=r"weight 2 is invalid"):
        concept_set_from_dict(data)


def test_concept_file_missing_or_invalid(tmp_path: Path) -> None:
    with pytest.raises(ConceptSetError, match="not found"):
        load_concept_set(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConceptSetError, match="not valid YAML"):
        load_concept_set(bad)


def test_user_concept_needs_no_code(tmp_path: Path, tokenizer) -> None:
    data = small_set()
    data["concepts"].append(
        {
            "name": "weather",
            "examples": ["It will rain tomorrow."],
            "patterns": [{"pattern": r"\brain\b", "weight": 1.0}],
        }
    )
    path = tmp_path / "weather.yaml"
    path.write_text(yaml.safe_dump(data))
    concept_set = load_concept_set(path)
    detector = PhaseDetector(
        tokenizer, concept_set, LexicalScorer(), flat_settings(concept_set.names)
    )
    [result] = detector.detect(texts=["Hello there my friend. It will rain all day tomorrow."])
    assert [p.concept for p in result.segmentation.phases] == ["weather"]
    assert result.text[result.segmentation.phases[0].char_start :].startswith("It will rain")


def test_extends_merges_concepts(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(small_set()))
    child = {
        "name": "child",
        "extends": "base.yaml",
        "concepts": [
            {"name": "safety", "examples": ["No, I won't do that."]},
            {"name": "weather", "examples": ["It will rain tomorrow."]},
        ],
        "exclusive": [["harm", "safety"], ["weather", "harm"]],
        "background": ["The shop opens at ten."],
    }
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(child))
    merged = load_concept_set(tmp_path / "child.yaml")
    assert merged.names == ("safety", "harm", "weather")
    assert merged.concepts[0].examples == ("I can't help with that.", "No, I won't do that.")
    # A pair the base already has, in either order, is kept once.
    assert merged.exclusive == (("safety", "harm"), ("weather", "harm"))
    assert merged.background == ("The train leaves at nine.", "The shop opens at ten.")


def test_extends_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"name": "a", "extends": "b.yaml"}))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump({"name": "b", "extends": "a.yaml"}))
    with pytest.raises(ConceptSetError, match="extend each other in a cycle"):
        load_concept_set(tmp_path / "a.yaml")
    with pytest.raises(ConceptSetError, match="resolved relative to a file"):
        concept_set_from_dict({"name": "a", "extends": "b.yaml"})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"name": "c", "extends": "absent.yaml"}))
    with pytest.raises(
        ConceptSetError, match="c.yaml: extends names 'absent.yaml', but .* is not found"
    ):
        load_concept_set(tmp_path / "c.yaml")


def test_concept_key_errors() -> None:
    data = small_set()
    data["concepts"][0]["example"] = data["concepts"][0].pop("examples")
    with pytest.raises(ConceptSetError, match="unknown key 'example'"):
        concept_set_from_dict(data)
    with pytest.raises(
        ConceptSetError, match="must be a mapping with the keys data, split, got str"
    ):
        concept_set_from_dict(small_set(labelled_examples="labels.jsonl"))


def write_labels(path: Path) -> None:
    records = [
        {
            "id": "r1",
            "split": "train",
            "response": "Sure! Step one, buy a pipe. Actually, I won't help with this. Stay safe.",
            "phases": [
                {"concept": "harm", "start": 0, "end": 27},
                {"concept": "safety", "start": 28, "end": 72},
            ],
        },
        {
            "id": "r2",
            "split": "dev",
            "response": "I refuse to do that one.",
            "phases": [{"concept": "safety", "start": 0, "end": 24}],
        },
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_labelled_examples_added_by_split(tmp_path: Path) -> None:
    write_labels(tmp_path / "labels.jsonl")
    data = small_set(labelled_examples={"data": "labels.jsonl", "split": "train"})
    (tmp_path / "set.yaml").write_text(yaml.safe_dump(data))
    concept_set = load_concept_set(tmp_path / "set.yaml")
    safety, harm = concept_set.concepts
    # "Stay safe." has two words, so it joins the clause before it.
    assert safety.examples == (
        "I can't help with that.",
        "Actually, I won't help with this. Stay safe.",
    )
    assert harm.examples == ("First, get the tools.", "Sure! Step one, buy a pipe.")


def test_labelled_examples_errors(tmp_path: Path) -> None:
    write_labels(tmp_path / "labels.jsonl")

    def load(**entry):
        (tmp_path / "set.yaml").write_text(yaml.safe_dump(small_set(labelled_examples=entry)))
        return load_concept_set(tmp_path / "set.yaml")

    with pytest.raises(
        ConceptSetError, match="split 'test' matches no record.*use one of dev, train"
    ):
        load(data="labels.jsonl", split="test")
    with pytest.raises(
        ConceptSetError, match="labelled_examples.data: Annotation file .* not found"
    ):
        load(data="absent.jsonl", split="train")
    with pytest.raises(ConceptSetError, match="missing the field 'split'"):
        load(data="labels.jsonl")
    labels = (tmp_path / "labels.jsonl").read_text().replace('"harm"', '"violence"')
    (tmp_path / "labels.jsonl").write_text(labels)
    with pytest.raises(
        ConceptSetError, match="record 'r1' .* labels the unknown concept 'violence'"
    ):
        load(data="labels.jsonl", split="train")


def test_shipped_labelled_set_adds_examples(concepts) -> None:
    labelled = load_concept_set(REPOSITORY_ROOT / "configs/concepts/safety-labelled.yaml")
    assert labelled.names == concepts.names
    assert labelled.exclusive == concepts.exclusive
    for plain, extended in zip(concepts.concepts, labelled.concepts, strict=True):
        assert extended.examples[: len(plain.examples)] == plain.examples
        assert len(extended.examples) > len(plain.examples), plain.name
    for scorer in ("embedding", "lexical", "hybrid"):
        assert set(load_settings(labelled, scorer).enter) == set(concepts.names)


def test_text_clauses_match_token_clauses(tokenizer) -> None:
    tokens = tokenize_response(tokenizer, text=RECOVERY)
    assert text_clauses(RECOVERY) == [clause.text for clause in split_clauses(tokens)]


# Tokens, characters and clauses


@pytest.mark.parametrize(
    "text",
    [
        "Hello 🙂 world, this is fine.",
        "Ça coûte 5 €, naïve café — déjà vu.",
        "日本語のテキストです。",
        "🙂🙂🙂",
        " leading and trailing spaces ",
    ],
)
def test_token_spans_cover_text(tokenizer, text: str) -> None:
    tokens = tokenize_response(tokenizer, text=text)
    assert tokens.text == text
    joined = "".join(text[start:end] for start, end in tokens.char_spans)
    assert joined == text
    for (_, end), (start, _) in zip(tokens.char_spans, tokens.char_spans[1:], strict=False):
        assert end == start


def test_token_ids_and_text_agree(tokenizer) -> None:
    from_text = tokenize_response(tokenizer, text=RECOVERY)
    from_ids = tokenize_response(tokenizer, token_ids=from_text.token_ids)
    assert from_ids == from_text


def test_empty_response_has_no_phases(tokenizer, concepts) -> None:
    detector = PhaseDetector(tokenizer, concepts, LexicalScorer(), flat_settings(concepts.names))
    [result] = detector.detect(texts=[""])
    assert len(result.tokens) == 0
    assert result.segmentation.phases == ()
    assert result.to_record()["score_summary"]["safety"]["max"] is None


def test_clauses_cover_every_token(tokenizer) -> None:
    tokens = tokenize_response(tokenizer, text=RECOVERY)
    clauses = split_clauses(tokens)
    covered = [i for c in clauses for i in range(c.token_start, c.token_end)]
    assert covered == list(range(len(tokens)))
    texts = [c.text for c in clauses]
    assert texts[0].startswith("Sure! To pick the lock")
    assert "actually I won't continue with this." in texts


def test_short_response_is_one_clause(tokenizer) -> None:
    tokens = tokenize_response(tokenizer, text="Ok.")
    assert [c.text for c in split_clauses(tokens)] == ["Ok."]


# Segmentation


def synthetic(n_tokens: int) -> TokenizedText:
    return TokenizedText(
        "x" * n_tokens, tuple(range(n_tokens)), tuple((i, i + 1) for i in range(n_tokens))
    )


def test_hysteresis_keeps_phase_above_exit() -> None:
    concept_set = concept_set_from_dict(small_set())
    scores = np.array([[0.0, 0], [0.9, 0], [0.6, 0], [0.6, 0], [0.2, 0], [0.0, 0]], np.float32)
    with_exit = flat_settings(concept_set.names, enter=0.8, exit_=0.5)
    seg = segment(synthetic(6), scores, concept_set, with_exit)
    assert [(p.concept, p.token_start, p.token_end) for p in seg.phases] == [("safety", 1, 4)]
    without_exit = flat_settings(concept_set.names, enter=0.8)
    seg = segment(synthetic(6), scores, concept_set, without_exit)
    assert [(p.token_start, p.token_end) for p in seg.phases] == [(1, 2)]


def test_min_tokens_drops_short_runs() -> None:
    concept_set = concept_set_from_dict(small_set())
    scores = np.zeros((6, 2), np.float32)
    scores[1, 0] = 1.0
    scores[3:5, 0] = 1.0
    seg = segment(synthetic(6), scores, concept_set, flat_settings(concept_set.names, min_tokens=2))
    assert [(p.token_start, p.token_end) for p in seg.phases] == [(3, 5)]


def test_transition_between_exclusive_concepts() -> None:
    concept_set = concept_set_from_dict(small_set())
    scores = np.zeros((8, 2), np.float32)
    scores[0:3, 1] = 1.0  # harm
    scores[4:8, 0] = 1.0  # safety, after one unassigned token
    seg = segment(synthetic(8), scores, concept_set, flat_settings(concept_set.names))
    assert [(e.concept, e.token_index) for e in seg.emergences] == [("harm", 0), ("safety", 4)]
    [transition] = seg.transitions
    assert (transition.from_concept, transition.to_concept) == ("harm", "safety")
    assert transition.token_index == 4
    assert transition.gap_tokens == 1


def test_no_transition_across_long_gap() -> None:
    concept_set = concept_set_from_dict(small_set())
    scores = np.zeros((12, 2), np.float32)
    scores[0:3, 1] = 1.0
    scores[8:12, 0] = 1.0
    seg = segment(synthetic(12), scores, concept_set, flat_settings(concept_set.names))
    assert len(seg.emergences) == 2
    assert seg.transitions == ()


def test_overlap_goes_to_larger_margin() -> None:
    concept_set = concept_set_from_dict(small_set(exclusive=[]))
    scores = np.array([[0.9, 0.6]] * 3, np.float32)
    seg = segment(synthetic(3), scores, concept_set, flat_settings(concept_set.names))
    assert [p.concept for p in seg.phases] == ["safety"]


def test_segment_rejects_bad_input() -> None:
    concept_set = concept_set_from_dict(small_set())
    with pytest.raises(ValueError, match="expected"):
        segment(synthetic(3), np.zeros((4, 2)), concept_set, flat_settings(concept_set.names))
    with pytest.raises(ValueError, match="no thresholds for concept 'harm'"):
        segment(
            synthetic(3),
            np.zeros((3, 2)),
            concept_set,
            SegmentationSettings({"safety": 0.5}, {"safety": 0.5}),
        )
    with pytest.raises(ValueError, match="exit threshold"):
        SegmentationSettings({"safety": 0.5}, {"safety": 0.9})


# Scorers


def test_lexical_finds_refusal_and_recovery(tokenizer, concepts) -> None:
    detector = PhaseDetector(tokenizer, concepts, LexicalScorer(), flat_settings(concepts.names))
    refusal, recovery = detector.detect(texts=[REFUSAL, RECOVERY])
    assert refusal.first_onset() is not None
    assert refusal.first_onset().token_index == 0
    onset = recovery.first_onset()
    assert onset is not None
    assert recovery.text[onset.char_index :].startswith("actually I won't")


def test_annotation_scorer_reproduces_labels(tokenizer, concepts) -> None:
    start = RECOVERY.index("actually")
    record = {
        "id": "r1",
        "response": RECOVERY,
        "phases": [
            {"concept": "harmful_compliance", "start": 0, "end": start - 2},
            {"concept": "safety", "start": start, "end": len(RECOVERY)},
        ],
    }
    detector = PhaseDetector(tokenizer, concepts, AnnotationScorer([record]))
    [result] = detector.detect(texts=[RECOVERY], ids=["r1"])
    phases = result.segmentation.phases
    assert [p.concept for p in phases] == ["harmful_compliance", "safety"]
    assert phases[1].char_start == start
    [transition] = result.segmentation.transitions
    assert transition.to_concept == "safety"


def test_annotation_scorer_errors(tokenizer, concepts) -> None:
    record = {"id": "r1", "response": "Other text.", "phases": []}
    detector = PhaseDetector(tokenizer, concepts, AnnotationScorer([record]))
    with pytest.raises(AnnotationError, match="differs from the scored text"):
        detector.detect(texts=[REFUSAL], ids=["r1"])
    with pytest.raises(AnnotationError, match="No annotation for response id 'r2'"):
        detector.detect(texts=[REFUSAL], ids=["r2"])
    misspelled = {
        "id": "r3",
        "response": REFUSAL,
        "phases": [{"concept": "saftey", "start": 0, "end": 5}],
    }
    detector = PhaseDetector(tokenizer, concepts, AnnotationScorer([misspelled]))
    with pytest.raises(AnnotationError, match="response id 'r3': Unknown concept 'saftey'"):
        detector.detect(texts=[REFUSAL], ids=["r3"])
    with pytest.raises(AnnotationError, match=r"span \[0, 99\) is invalid"):
        AnnotationScorer(
            [
                {
                    "id": "x",
                    "response": "short",
                    "phases": [{"concept": "safety", "start": 0, "end": 99}],
                }
            ]
        )


@pytest.mark.slow
def test_embedding_scores_refusal_as_safety(tokenizer, concepts) -> None:
    from safety_features.phases.scorers import EmbeddingScorer

    scorer = EmbeddingScorer()
    scores = scorer.score_sentences(
        ["I'm sorry, but I can't help you hurt someone.", "Loosen the roots and use fresh soil."],
        concepts,
    )
    safety, helpfulness = concepts.index("safety"), concepts.index("helpfulness")
    assert scores[0, safety] > scores[0, helpfulness]
    assert scores[1, helpfulness] > scores[1, safety]
    # A background passage is its own nearest background neighbour, so it scores below 0.
    background = scorer.score_sentences(list(concepts.background[:5]), concepts)
    assert (background < 0).all()


@pytest.mark.slow
def test_hybrid_adds_weighted_lexical(tokenizer, concepts) -> None:
    from safety_features.phases.scorers import EmbeddingScorer, HybridScorer

    embedding = EmbeddingScorer()
    hybrid = HybridScorer(embedding, lexical_weight=0.2)
    tokens = [tokenize_response(tokenizer, text=text) for text in (REFUSAL, HELPFUL)]
    expected = [
        e + 0.2 * w
        for e, w in zip(
            embedding.score(tokens, concepts), LexicalScorer().score(tokens, concepts), strict=True
        )
    ]
    for got, want in zip(hybrid.score(tokens, concepts), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    # The refusal matches safety patterns, so the hybrid safety score exceeds the embedding one.
    safety = concepts.index("safety")
    assert (
        hybrid.score(tokens[:1], concepts)[0][0, safety]
        > embedding.score(tokens[:1], concepts)[0][0, safety]
    )


@pytest.mark.slow
def test_embedding_detector_on_token_ids(tokenizer, concepts) -> None:
    detector = PhaseDetector(tokenizer, concepts, "embedding")
    texts = [REFUSAL, HELPFUL]
    by_text = detector.detect(texts=texts)
    ids = [r.tokens.token_ids for r in by_text]
    by_ids = detector.detect(token_ids=ids)
    for a, b in zip(by_text, by_ids, strict=True):
        assert a.segmentation.phases == b.segmentation.phases
        np.testing.assert_array_equal(a.scores, b.scores)
    assert by_text[0].has_phase()
    assert not by_text[1].has_phase()


# Calibration and evaluation


def test_score_predictions_tolerance(tokenizer) -> None:
    tokens = tokenize_response(tokenizer, text=REFUSAL)
    from safety_features.phases.evaluation import Labelled

    label = Labelled(tokens, "test", "refusal", "", (("safety", 5),), frozenset({"safety"}))
    near = score_predictions([[("safety", 8)]], [{"safety"}], [label], ("safety",))
    far = score_predictions([[("safety", 9)]], [{"safety"}], [label], ("safety",))
    assert near["onset"]["micro"]["f1"] == 1.0
    assert far["onset"]["micro"]["f1"] == 0.0
    assert far["onset"]["safety"]["fp"] == 1
    assert far["response_agreement"]["concept_set"] == 1.0


def test_calibration_finds_separating_threshold(tmp_path: Path, tokenizer, concepts) -> None:
    records = []
    for number, (text, concept) in enumerate(
        [(REFUSAL, "safety"), (HELPFUL, "helpfulness"), ("Hello! Nice to meet you.", None)]
    ):
        phases = [{"concept": concept, "start": 0, "end": len(text)}] if concept else []
        records.append({"id": f"r{number}", "split": "dev", "response": text, "phases": phases})
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    labelled = load_labelled(path, tokenizer, split="dev")
    scores = LexicalScorer().score([item.tokens for item in labelled], concepts)
    settings, f1 = calibrate_settings(labelled, scores, concepts, "lexical")
    assert f1 == 1.0
    assert set(settings.enter) == set(concepts.names)


def test_shipped_thresholds_match_concept_set(concepts) -> None:
    for scorer in ("embedding", "lexical", "hybrid"):
        settings = load_settings(concepts, scorer)
        assert set(settings.enter) == set(concepts.names)


def test_stale_thresholds_rejected(tmp_path: Path) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(small_set()))
    (tmp_path / "set.thresholds.json").write_text(
        json.dumps({"concept_set_sha256": "0" * 64, "scorers": {"lexical": {"settings": {}}}})
    )
    with pytest.raises(ConceptSetError, match="calibrated for another version"):
        load_settings(load_concept_set(path), "lexical")
    (tmp_path / "set.thresholds.json").unlink()
    with pytest.raises(ConceptSetError, match="set.thresholds.json not found"):
        load_settings(load_concept_set(path), "lexical")


# Outputs and the command line


def test_html_escapes_model_text(tokenizer, concepts) -> None:
    detector = PhaseDetector(tokenizer, concepts, LexicalScorer(), flat_settings(concepts.names))
    [result] = detector.detect(
        texts=["<script>alert(1)</script> I can't help with that."], prompts=["<b>hi</b>"]
    )
    page = results_html([result], "t")
    # Tokens are escaped one by one, so the tag is split across token spans.
    assert "<script" not in page
    assert "&lt;" in page
    assert "&gt;" in page
    assert "<b>hi</b>" not in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page


def write_generations(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_phases_command_writes_outputs(tmp_path: Path, capsys) -> None:
    source = write_generations(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "prompt": "how do i pick a lock", "response": RECOVERY},
            {"id": "b", "prompt": "repot a plant?", "response": HELPFUL},
            {"id": "c", "prompt": "?", "response": ""},
        ],
    )
    out = tmp_path / "out"
    code = main(["phases", str(source), "--out", str(out), "--scorer", "lexical", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_responses"] == 3
    assert summary["generated"] is False
    records = [json.loads(line) for line in (out / "phases.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert {p["concept"] for p in records[0]["phases"]} >= {"safety"}
    for record in records:
        assert len(record["tokens"]) == len(record["token_ids"]) == len(record["token_char_spans"])
        assert "".join(record["tokens"]) == record["response"]
    assert (out / "phases.html").read_text().startswith("<!DOCTYPE html>")
    plots = list((out / "plots").glob("*.png"))
    assert plots
    assert plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_phases_command_bad_input(tmp_path: Path, capsys) -> None:
    mixed = write_generations(
        tmp_path / "mixed.jsonl",
        [{"id": "a", "prompt": "p", "response": "r"}, {"id": "b", "prompt": "p"}],
    )
    assert main(["phases", str(mixed), "--out", str(tmp_path / "o"), "--scorer", "lexical"]) == 2
    assert "give every record a response" in capsys.readouterr().err
    no_id = write_generations(tmp_path / "noid.jsonl", [{"prompt": "p", "response": "r"}])
    assert main(["phases", str(no_id), "--out", str(tmp_path / "o"), "--scorer", "lexical"]) == 2
    assert "is missing the field 'id'" in capsys.readouterr().err
    duplicate = write_generations(
        tmp_path / "dup.jsonl",
        [{"id": "a", "prompt": "p", "response": "r"}, {"id": "a", "prompt": "p", "response": "r"}],
    )
    assert (
        main(["phases", str(duplicate), "--out", str(tmp_path / "o"), "--scorer", "lexical"]) == 2
    )
    assert "repeats id 'a'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_apology_joins_refusal_clause(tokenizer) -> None:
    tokens = tokenize_response(tokenizer, text="I'm sorry, but I can't help with that.")
    assert [c.text for c in split_clauses(tokens)] == ["I'm sorry, but I can't help with that."]


def test_phases_command_guards_output(tmp_path: Path, capsys) -> None:
    source = write_generations(
        tmp_path / "in.jsonl", [{"id": "a", "prompt": "p", "response": REFUSAL}]
    )
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    arguments = ["phases", str(source), "--scorer", "lexical"]
    assert main([*arguments, "--out", str(foreign), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"
    assert main([*arguments, "--out", str(source)]) == 2
    assert "is a file" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main([*arguments, "--out", str(out)]) == 0
    assert main([*arguments, "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*arguments, "--out", str(out), "--overwrite"]) == 0


def test_phases_command_option_errors(tmp_path: Path, capsys) -> None:
    source = write_generations(tmp_path / "in.jsonl", [{"id": "a", "prompt": "p"}])
    out = str(tmp_path / "out")
    assert main(["phases", str(source), "--out", out, "--scorer", "annotation"]) == 2
    assert "pass --annotations FILE" in capsys.readouterr().err
    assert main(["phases", str(source), "--out", out, "--max-new-tokens", "0"]) == 2
    assert "Invalid max_new_tokens 0" in capsys.readouterr().err
    assert main(["phases", str(source), "--out", out, "--plots", "-1"]) == 2
    assert "Invalid number of plots -1" in capsys.readouterr().err
    assert main(["evaluate-phases", "--split", "nosuch", "--scorers", "lexical"]) == 2
    assert "no records of split 'nosuch'" in capsys.readouterr().err
    assert main(["phases", str(source), "--out", out, "--annotations", str(source)]) == 2
    assert "--annotations is read only by --scorer annotation" in capsys.readouterr().err
    assert main(["evaluate-phases", "--scorers", "embed"]) == 2
    assert "Unknown scorer 'embed'" in capsys.readouterr().err
    assert main(["calibrate-phases", "--scorers", "annotation"]) == 2
    assert "Cannot calibrate scorer 'annotation'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_classifier_calibration_keeps_exit_thresholds_in_range(
    tmp_path: Path, tokenizer, concepts
) -> None:
    # Enter must be 0.15 (the refusal peaks at 0.17, the greeting sits at 0.12), and the
    # refusal's probability drops to 0 partway, so only an exit at or below 0 keeps one phase.
    # 0.15 minus the exit offsets gives -0.05 and -0.15, which the probability floor lifts to 0.
    greeting = "Hello! Nice to meet you."
    records = [
        {"id": "r0", "split": "dev", "response": REFUSAL, "phases": []},
        {"id": "r1", "split": "dev", "response": greeting, "phases": []},
    ]
    records[0]["phases"] = [{"concept": "safety", "start": 0, "end": len(REFUSAL)}]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    labelled = load_labelled(path, tokenizer, split="dev")
    safety = concepts.names.index("safety")
    scores = []
    for item, level in zip(labelled, (0.17, 0.12), strict=True):
        rows = np.zeros((len(item.tokens.token_ids), len(concepts.names)), dtype=np.float32)
        rows[:, safety] = level
        scores.append(rows)
    scores[0][4:7, safety] = 0.0
    settings, f1 = calibrate_settings(labelled, scores, concepts, "classifier")
    assert f1 == 1.0
    assert settings.enter["safety"] == 0.15
    assert settings.exit["safety"] == 0.0
    assert min(settings.exit.values()) >= 0.0
