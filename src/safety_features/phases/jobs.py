"""The `phases`, `calibrate-phases`, `evaluate-phases` and `train-classifier` commands as functions.

Input of `phases` is JSONL with one generation per line: `id`, `prompt` and `response`. When no
line has a `response`, the responses are generated from the prompts with the given model first.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safety_features.files import (
    OutputFolderError,
    atomic_directory,
    check_output_folder,
    write_json_atomic,
)
from safety_features.phases.classifier import (
    META_FILE,
    ClassifierTraining,
    train_classifier_scorer,
)
from safety_features.phases.concepts import SAFETY_CONCEPTS, load_concept_set
from safety_features.phases.detect import PhaseDetector, PhaseResult, save_settings
from safety_features.phases.evaluation import (
    calibrate_settings,
    evaluate_results,
    load_labelled,
)
from safety_features.phases.render import plot_scores, write_html, write_jsonl
from safety_features.phases.scorers import SCORER_NAMES, make_scorer

logger = logging.getLogger(__name__)


class PhasesInputError(ValueError):
    """A generations file that is missing or has an invalid line."""


def read_generations(path: str | Path) -> list[dict[str, Any]]:
    """Read records with `id`, `prompt` and optional `response`; ids must be unique strings."""
    path = Path(path)
    if not path.is_file():
        raise PhasesInputError(
            f"Input file {path} not found: pass a JSONL file with one "
            '{"id", "prompt", "response"} object per line.'
        )
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise PhasesInputError(
                f"{where} is not valid JSON: {error}. Write one JSON object per line, with id, "
                "prompt and response."
            ) from error
        if not isinstance(record, dict):
            raise PhasesInputError(f"{where} must be a JSON object with id, prompt and response.")
        for field in ("id", "prompt"):
            if field not in record:
                raise PhasesInputError(f"{where} is missing the field {field!r}; add it.")
        key = str(record["id"])
        if key in seen:
            raise PhasesInputError(f"{where} repeats id {key!r}; give every record a unique id.")
        seen.add(key)
        for field in ("prompt", "response"):
            if field in record and not isinstance(record[field], str):
                raise PhasesInputError(f"{where}: {field} must be a string.")
        records.append({**record, "id": key})
    if not records:
        raise PhasesInputError(
            f"Input file {path} has no records: add one JSON object per line with id, prompt "
            "and response."
        )
    with_response = sum("response" in record for record in records)
    if 0 < with_response < len(records):
        raise PhasesInputError(
            f"{path}: {with_response} of {len(records)} records have a response; give every "
            "record a response, or none to generate them with --model."
        )
    return records


@dataclass(frozen=True)
class PhasesRun:
    out_dir: Path
    summary: dict


def summarize(results: list[PhaseResult]) -> dict:
    """Counts of phases, emergences and transitions, and the safety-phase rate."""
    phases = Counter(p.concept for r in results for p in r.segmentation.phases)
    emergences = Counter(e.concept for r in results for e in r.segmentation.emergences)
    transitions = Counter(
        f"{t.from_concept}->{t.to_concept}" for r in results for t in r.segmentation.transitions
    )
    onsets = [o.token_index for r in results if (o := r.first_onset()) is not None]
    return {
        "n_responses": len(results),
        "safety_concepts": list(SAFETY_CONCEPTS),
        "safety_phase_rate": sum(r.has_phase() for r in results) / len(results)
        if results
        else None,
        "mean_safety_onset_token": sum(onsets) / len(onsets) if onsets else None,
        "phases": dict(phases),
        "emergences": dict(emergences),
        "transitions": dict(transitions),
    }


def write_phase_outputs(
    out: Path, results: list[PhaseResult], detector: PhaseDetector, n_plots: int
) -> None:
    """Write phases.jsonl, phases.html and up to `n_plots` score plots into folder `out`."""
    write_jsonl(out / "phases.jsonl", results)
    write_html(out / "phases.html", results, "Phases")
    with_phase = [(i, r) for i, r in enumerate(results) if r.segmentation.phases][:n_plots]
    for index, result in with_phase:
        # The record number keeps names unique when two ids differ only in replaced characters.
        name = f"{index:05d}-{_file_stem(result.id)}.png"
        plot_scores(out / "plots" / name, result, dict(detector.settings.enter))


def _file_stem(key: str | None) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(key))[:80] or "response"


def run_phases(
    input_path: str | Path,
    out: str | Path,
    concepts: str | Path | None = None,
    scorer: str = "embedding",
    model: str = "organism:chat",
    annotations: str | Path | None = None,
    max_new_tokens: int = 64,
    n_plots: int = 10,
    overwrite: bool = False,
    progress: bool = True,
    classifier: str | Path | None = None,
) -> PhasesRun:
    """Detect phases in the generations of `input_path` (generating them first if needed)."""
    if max_new_tokens < 1:
        raise PhasesInputError(
            f"Invalid max_new_tokens {max_new_tokens}: use a positive number of tokens."
        )
    if n_plots < 0:
        raise PhasesInputError(f"Invalid number of plots {n_plots}: use 0 or more.")
    if annotations is not None and scorer != "annotation":
        raise PhasesInputError(
            f"--annotations is read only by --scorer annotation, not by --scorer {scorer}: "
            "drop it or pass --scorer annotation."
        )
    if classifier is not None and scorer != "classifier":
        raise PhasesInputError(
            f"--classifier is read only by --scorer classifier, not by --scorer {scorer}: "
            "drop it or pass --scorer classifier."
        )
    records = read_generations(input_path)
    try:
        out = check_output_folder(out, "summary.json", overwrite)
    except OutputFolderError as error:
        raise PhasesInputError(str(error)) from error

    started = time.perf_counter()
    generation_seconds = 0.0
    if "response" in records[0]:
        from safety_features.models.loading import load_tokenizer

        tokenizer = load_tokenizer(model)
        detector = PhaseDetector(tokenizer, concepts, make_scorer(scorer, annotations, classifier))
        responses = [record["response"] for record in records]
        results = detector.detect(
            texts=responses, ids=[r["id"] for r in records], prompts=[r["prompt"] for r in records]
        )
    else:
        from safety_features.models.generation import generate
        from safety_features.models.loading import load_model

        loaded = load_model(model)
        detector = PhaseDetector(
            loaded.tokenizer, concepts, make_scorer(scorer, annotations, classifier)
        )
        generation_started = time.perf_counter()
        generations = generate(
            loaded, [r["prompt"] for r in records], max_new_tokens=max_new_tokens, progress=progress
        )
        generation_seconds = time.perf_counter() - generation_started
        results = detector.detect(
            token_ids=[g.response_token_ids for g in generations],
            ids=[r["id"] for r in records],
            prompts=[r["prompt"] for r in records],
        )
    summary = {
        **summarize(results),
        **detector.scorer_record(),
        "concept_set": detector.concepts.name,
        "settings": detector.settings.to_dict(),
        "model": model,
        "generated": "response" not in records[0],
        "generation_seconds": generation_seconds,
        "seconds": time.perf_counter() - started,
    }
    with atomic_directory(out) as temporary:
        write_phase_outputs(temporary, results, detector, n_plots)
        write_json_atomic(temporary / "summary.json", summary)
    return PhasesRun(out, summary)


def calibrate_phases(
    data: str | Path,
    concepts: str | Path | None = None,
    scorers: tuple[str, ...] = ("embedding", "lexical", "hybrid"),
    model: str = "organism:chat",
    split: str = "dev",
) -> dict:
    """Calibrate each scorer's thresholds on the `split` of labelled `data`, and store them.

    Returns, per scorer, the chosen settings and the onset F1 on the calibration split.
    """
    from safety_features.models.loading import load_tokenizer

    concept_set = load_concept_set(concepts)
    tokenizer = load_tokenizer(model)
    labelled = load_labelled(data, tokenizer, split=split)
    if not labelled:
        raise PhasesInputError(f"{data} has no records of split {split!r}; label some first.")
    unlabelled = sorted(
        set(concept_set.names) - {c for item in labelled for c, _ in item.emergences}
    )
    if unlabelled:
        logger.warning(
            "No %s response of %s has a phase of %s, so their thresholds rest on negatives "
            "only; label some responses with these concepts",
            split,
            data,
            ", ".join(unlabelled),
        )
    summary = {}
    for name in scorers:
        if name not in ("embedding", "lexical", "hybrid"):
            raise PhasesInputError(
                f"Cannot calibrate scorer {name!r}: calibrate embedding, lexical or hybrid. "
                "The annotation scorer needs no thresholds, and a classifier calibrates its "
                "own when `safety-features train-classifier` trains it."
            )
        scorer = make_scorer(name)
        scores = scorer.score([item.tokens for item in labelled], concept_set)
        settings, f1 = calibrate_settings(labelled, scores, concept_set, name)
        calibration = {
            "data": str(data),
            "split": split,
            "n_responses": len(labelled),
            "tokenizer": model,
            "onset_f1": f1,
        }
        path = save_settings(concept_set, name, settings, calibration)
        logger.info(
            "Calibrated %s thresholds: onset F1 %.3f on %s; saved to %s", name, f1, split, path
        )
        summary[name] = {
            "settings": settings.to_dict(),
            **calibration,
            "thresholds_file": str(path),
        }
    return summary


def evaluate_phases(
    data: str | Path,
    concepts: str | Path | None = None,
    scorers: tuple[str, ...] = ("embedding", "lexical", "hybrid"),
    model: str = "organism:chat",
    split: str = "test",
    classifier: str | Path | None = None,
) -> dict:
    """Compute onset precision, recall, F1 and response agreement of each scorer on labelled data.

    Scorers get the labelled prompts. Only the classifier (from the folder `classifier`) reads them.
    """
    from safety_features.models.loading import load_tokenizer

    tokenizer = load_tokenizer(model)
    labelled = load_labelled(data, tokenizer, split=split)
    if not labelled:
        raise PhasesInputError(f"{data} has no records of split {split!r}: use dev or test.")
    unknown = [name for name in scorers if name not in SCORER_NAMES]
    if unknown:
        raise PhasesInputError(
            f"Unknown scorer {unknown[0]!r} in --scorers: use {', '.join(SCORER_NAMES)}."
        )
    if classifier is not None and "classifier" not in scorers:
        raise PhasesInputError(
            f"--classifier is read only when --scorers lists classifier, not by "
            f"{', '.join(scorers)}: add classifier to --scorers or drop --classifier."
        )
    results = {}
    for name in scorers:
        detector = PhaseDetector(tokenizer, concepts, make_scorer(name, classifier=classifier))
        detected = detector.detect_tokens(
            [item.tokens for item in labelled], [item.prompt for item in labelled]
        )
        results[name] = evaluate_results(detected, labelled)
    return results


def train_classifier_job(
    data: str | Path,
    out: str | Path,
    concepts: str | Path | None = None,
    model: str = "organism:chat",
    split: str = "dev,train",
    training: ClassifierTraining | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Train a classifier scorer on the `split` of labelled `data` and save it into `out`.

    `split` is one split or a comma-separated list of them.
    """
    from safety_features.models.loading import load_tokenizer

    try:
        out = check_output_folder(out, META_FILE, overwrite)
    except OutputFolderError as error:
        raise PhasesInputError(str(error)) from error
    if not Path(data).is_file():
        raise PhasesInputError(f"Labelled data {data} not found: pass a JSONL file to --data.")
    concept_set = load_concept_set(concepts)
    started = time.perf_counter()
    scorer, f1 = train_classifier_scorer(
        data, load_tokenizer(model), concept_set, split, training or ClassifierTraining(), progress
    )
    scorer.provenance["tokenizer"] = model
    scorer.save(out, overwrite)
    logger.info("Out-of-fold onset F1 %.3f on %s; classifier saved to %s", f1, split, out)
    return {
        "path": str(out),
        "concept_set": concept_set.name,
        "settings": scorer.settings.to_dict() if scorer.settings else None,
        "seconds": time.perf_counter() - started,
        **scorer.provenance,
    }
