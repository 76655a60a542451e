"""Phase detection on a batch of responses: tokenize, score, segment, and return typed results.

Thresholds live beside the concept set: `safety.yaml` keeps its calibrated thresholds in
`safety.thresholds.json`, one entry per scorer, together with the hash of the concept set they
were calibrated for and the data they were calibrated on. `safety-features calibrate-phases`
writes that file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from transformers import PreTrainedTokenizerBase

from safety_features.files import write_json_atomic
from safety_features.phases.concepts import (
    SAFETY_CONCEPTS,
    ConceptSet,
    ConceptSetError,
    load_concept_set,
)
from safety_features.phases.scorers import MembershipScorer, RequestReadingScorer, make_scorer
from safety_features.phases.segment import (
    Emergence,
    Segmentation,
    SegmentationSettings,
    segment,
)
from safety_features.phases.text import TokenizedText, tokenize_response

logger = logging.getLogger(__name__)

ANNOTATION_SETTINGS_VALUE = 0.5
"""Annotation scores are 0 or 1, so any threshold between them gives the labelled spans."""


def thresholds_path(concepts: ConceptSet) -> Path:
    if concepts.path is None:
        raise ConceptSetError(
            f"Concept set {concepts.name!r} was not loaded from a file, so it has no thresholds "
            "file: pass SegmentationSettings explicitly."
        )
    return concepts.path.with_suffix(".thresholds.json")


def load_settings(concepts: ConceptSet, scorer: str) -> SegmentationSettings:
    """Calibrated settings of `scorer` for `concepts`, from the thresholds file beside it.

    The annotation scorer needs no calibration. Raises ConceptSetError when the file is
    missing, has no entry for the scorer, or was calibrated for other concept set content.
    """
    if scorer == "annotation":
        value = {name: ANNOTATION_SETTINGS_VALUE for name in concepts.names}
        return SegmentationSettings(value, value, min_tokens=1)
    path = thresholds_path(concepts)
    fix = f"run `safety-features calibrate-phases --concepts {concepts.path}`"
    if not path.is_file():
        raise ConceptSetError(f"Thresholds file {path} not found: {fix}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entry = data["scorers"][scorer]["settings"]
        stored_hash = data["concept_set_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ConceptSetError(
            f"Thresholds file {path} has no valid entry for scorer {scorer!r} ({error}): {fix}."
        ) from error
    if stored_hash != concepts.content_hash():
        raise ConceptSetError(
            f"Thresholds in {path} were calibrated for another version of {concepts.path}: {fix}."
        )
    return SegmentationSettings(
        enter=entry["enter"],
        exit=entry["exit"],
        min_tokens=entry["min_tokens"],
        transition_gap=entry["transition_gap"],
    )


def save_settings(
    concepts: ConceptSet, scorer: str, settings: SegmentationSettings, calibration: dict
) -> Path:
    """Store `settings` and their calibration record for `scorer` in the thresholds file."""
    path = thresholds_path(concepts)
    data: dict = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = {}
    if data.get("concept_set_sha256") != concepts.content_hash():
        data = {}  # entries of other scorers were calibrated for older content
    data["concept_set"] = concepts.name
    data["concept_set_sha256"] = concepts.content_hash()
    data.setdefault("scorers", {})[scorer] = {
        "settings": settings.to_dict(),
        "calibration": calibration,
    }
    write_json_atomic(path, data)
    return path


@dataclass(frozen=True)
class PhaseResult:
    """One response with its per-token scores and its phases."""

    tokens: TokenizedText
    concepts: tuple[str, ...]
    scores: np.ndarray
    """Shape (tokens, concepts)."""
    segmentation: Segmentation
    prompt: str | None = None

    @property
    def id(self) -> str | None:
        return self.tokens.id

    @property
    def text(self) -> str:
        return self.tokens.text

    def has_phase(self, concepts: Sequence[str] = SAFETY_CONCEPTS) -> bool:
        return any(phase.concept in concepts for phase in self.segmentation.phases)

    def first_onset(self, concepts: Sequence[str] = SAFETY_CONCEPTS) -> Emergence | None:
        """Return the earliest emergence of any of `concepts`, or None."""
        return next((e for e in self.segmentation.emergences if e.concept in concepts), None)

    def to_record(self) -> dict:
        """Build a JSON-ready record: texts, tokens, phases, emergences, transitions, scores."""
        seg = self.segmentation
        return {
            "id": self.id,
            "prompt": self.prompt,
            "response": self.text,
            "tokens": [self.text[start:end] for start, end in self.tokens.char_spans],
            "token_ids": list(self.tokens.token_ids),
            "token_char_spans": [list(span) for span in self.tokens.char_spans],
            "phases": [vars(phase) for phase in seg.phases],
            "emergences": [vars(emergence) for emergence in seg.emergences],
            "transitions": [vars(transition) for transition in seg.transitions],
            "safety_phase": self.has_phase(),
            "score_summary": {
                concept: {
                    "max": float(self.scores[:, i].max()) if len(self.tokens) else None,
                    "mean": float(self.scores[:, i].mean()) if len(self.tokens) else None,
                }
                for i, concept in enumerate(self.concepts)
            },
        }


class PhaseDetector:
    """A concept set, a scorer, its thresholds and a tokenizer, ready to detect phases.

    `concepts` is a ConceptSet or a path to one (default: the project's safety set). `scorer` is
    a scorer name ("embedding", "lexical", "hybrid", "annotation") or a MembershipScorer
    instance, such as a trained ClassifierScorer. Without `settings`, a classifier uses the
    thresholds saved with it and other scorers the ones stored beside the concept set.
    Scorers that read the request (the classifier) get the `prompts` passed to `detect`.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        concepts: ConceptSet | str | Path | None = None,
        scorer: str | MembershipScorer = "embedding",
        settings: SegmentationSettings | None = None,
        annotations: str | Path | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.concepts = concepts if isinstance(concepts, ConceptSet) else load_concept_set(concepts)
        self.scorer = make_scorer(scorer, annotations) if isinstance(scorer, str) else scorer
        # A trained classifier must fit the concept set, and carries its own thresholds.
        check_concepts = getattr(self.scorer, "check_concepts", None)
        if check_concepts is not None:
            check_concepts(self.concepts)
        own = getattr(self.scorer, "settings", None)
        self.settings = settings or own or load_settings(self.concepts, self.scorer.name)

    def tokenize(
        self,
        texts: Sequence[str] | None = None,
        token_ids: Sequence[Sequence[int]] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[TokenizedText]:
        if (texts is None) == (token_ids is None):
            raise ValueError("pass exactly one of texts and token_ids")
        items: Sequence = texts if texts is not None else token_ids  # type: ignore[assignment]
        if ids is not None and len(ids) != len(items):
            raise ValueError(f"got {len(ids)} ids for {len(items)} responses; pass one id each")
        result = []
        for index, item in enumerate(items):
            key = ids[index] if ids is not None else str(index)
            if texts is not None:
                tokens = tokenize_response(self.tokenizer, text=item, id=key)
                if tokens.text != item:
                    logger.warning(
                        "Response %s changes when tokenized and decoded (%d characters before, "
                        "%d after); offsets refer to the decoded text",
                        key,
                        len(item),
                        len(tokens.text),
                    )
                result.append(tokens)
            else:
                result.append(tokenize_response(self.tokenizer, token_ids=item, id=key))
        return result

    def scorer_record(self) -> dict[str, Any]:
        """Name the scorer for run manifests, with a trained classifier's folder and hash."""
        record = getattr(self.scorer, "record", None)
        return {"scorer": self.scorer.name, **(record() if record is not None else {})}

    def detect_tokens(
        self, tokens: Sequence[TokenizedText], prompts: Sequence[str] | None = None
    ) -> list[PhaseResult]:
        if getattr(self.scorer, "uses_prompts", False):
            reader = cast(RequestReadingScorer, self.scorer)
            scores = reader.score(tokens, self.concepts, prompts=prompts)
        else:
            scores = self.scorer.score(tokens, self.concepts)
        results = []
        for index, (item, item_scores) in enumerate(zip(tokens, scores, strict=True)):
            results.append(
                PhaseResult(
                    item,
                    self.concepts.names,
                    item_scores,
                    segment(item, item_scores, self.concepts, self.settings),
                    prompts[index] if prompts is not None else None,
                )
            )
        return results

    def detect(
        self,
        texts: Sequence[str] | None = None,
        token_ids: Sequence[Sequence[int]] | None = None,
        ids: Sequence[str] | None = None,
        prompts: Sequence[str] | None = None,
    ) -> list[PhaseResult]:
        """Detect phases in a batch of responses given as texts or as token ids."""
        if prompts is not None:
            count = len(texts if texts is not None else token_ids or [])
            if len(prompts) != count:
                raise ValueError(f"got {len(prompts)} prompts for {count} responses")
        return self.detect_tokens(self.tokenize(texts, token_ids, ids), prompts)


def detect_phases(
    texts: Sequence[str] | None = None,
    *,
    token_ids: Sequence[Sequence[int]] | None = None,
    tokenizer: PreTrainedTokenizerBase,
    concepts: ConceptSet | str | Path | None = None,
    scorer: str | MembershipScorer = "embedding",
    settings: SegmentationSettings | None = None,
    ids: Sequence[str] | None = None,
    prompts: Sequence[str] | None = None,
) -> list[PhaseResult]:
    """Detect phases in responses given as texts or token ids; see PhaseDetector."""
    detector = PhaseDetector(tokenizer, concepts, scorer, settings)
    return detector.detect(texts, token_ids, ids, prompts)
