"""Score a phase detector against labelled responses, and calibrate its thresholds.

Labelled data is JSONL with `id`, `split` (dev or test), `response` and `phases` (character
spans with a concept). A predicted emergence matches a labelled one of the same concept when
their onsets lie within `tolerance` tokens; each label matches at most one prediction.
Response-level agreement compares which concepts occur at all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from safety_features.phases.concepts import SAFETY_CONCEPTS, ConceptSet
from safety_features.phases.detect import PhaseResult
from safety_features.phases.scorers import read_annotations
from safety_features.phases.segment import SegmentationSettings, segment
from safety_features.phases.text import TokenizedText

ONSET_TOLERANCE_TOKENS = 3
# Embedding scores are cosine-similarity differences, mostly within [-0.2, 0.4]. Lexical scores
# are summed pattern weights in [0, 1], and hybrid scores add 0.2 times them to embedding scores.
# Classifier scores are probabilities.
ENTER_GRID = {
    "embedding": tuple(round(float(x), 3) for x in np.arange(-0.1, 0.4001, 0.0125)),
    "lexical": (0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0),
    "hybrid": tuple(round(float(x), 3) for x in np.arange(-0.1, 0.6001, 0.0125)),
    "classifier": tuple(round(float(x), 3) for x in np.arange(0.1, 0.9001, 0.05)),
}
EXIT_OFFSETS = {
    "embedding": (0.0, 0.025, 0.05, 0.1),
    "lexical": (0.0,),
    "hybrid": (0.0, 0.025, 0.05, 0.1),
    "classifier": (0.0, 0.1, 0.2, 0.3),
}
# Lowest score a scorer can give: its exit thresholds stop there. The classifier gives
# probabilities, so an exit threshold below 0 ends no phase that 0 would not, and
# classifier.json rejects it.
SCORE_FLOOR = {"classifier": 0.0}
MIN_TOKENS_GRID = (1, 2, 3)


@dataclass(frozen=True)
class Labelled:
    """A labelled response: its tokens and the (concept, onset token) of each emergence."""

    tokens: TokenizedText
    split: str
    case: str
    prompt: str
    emergences: tuple[tuple[str, int], ...]
    concepts_present: frozenset[str]


def load_labelled(path, tokenizer, split: str | None = None) -> list[Labelled]:
    """Read labelled responses (all, or one split) and tokenize them with `tokenizer`."""
    from safety_features.phases.text import tokenize_response

    items = []
    for record in read_annotations(path):
        if split is not None and record.get("split") != split:
            continue
        tokens = tokenize_response(tokenizer, text=record["response"], id=str(record["id"]))
        if tokens.text != record["response"]:
            raise ValueError(
                f"record {record['id']!r}: the tokenizer does not reproduce the response text "
                "exactly, so labels cannot be mapped to tokens; use a byte-level tokenizer"
            )
        phases = sorted(record["phases"], key=lambda p: p["start"])
        emergences = []
        previous: dict | None = None
        for phase in phases:
            adjacent = (
                previous is not None
                and not record["response"][previous["end"] : phase["start"]].strip()
            )
            if not (adjacent and previous is not None and previous["concept"] == phase["concept"]):
                emergences.append((phase["concept"], tokens.token_at_char(phase["start"])))
            previous = phase
        items.append(
            Labelled(
                tokens,
                str(record.get("split", "")),
                str(record.get("case", "")),
                str(record.get("prompt", "")),
                tuple(emergences),
                frozenset(p["concept"] for p in phases),
            )
        )
    return items


def _match(predicted: list[int], labelled: list[int], tolerance: int) -> int:
    pairs = sorted(
        (abs(guess - truth), i, j)
        for (i, guess), (j, truth) in itertools.product(enumerate(predicted), enumerate(labelled))
        if abs(guess - truth) <= tolerance
    )
    used_p: set[int] = set()
    used_l: set[int] = set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_l:
            used_p.add(i)
            used_l.add(j)
    return len(used_p)


def _f1(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def score_predictions(
    predicted: Sequence[Iterable[tuple[str, int]]],
    predicted_concepts: Sequence[Iterable[str]],
    labelled: Sequence[Labelled],
    concepts: Sequence[str],
    tolerance: int = ONSET_TOLERANCE_TOKENS,
) -> dict:
    """Onset precision, recall and F1 (per concept and micro), and response agreement."""
    counts = {c: [0, 0, 0] for c in concepts}
    concept_set_agreement = 0
    safety_agreement = 0
    for emergences, present, label in zip(predicted, predicted_concepts, labelled, strict=True):
        emergences = list(emergences)
        present = set(present)
        for concept in concepts:
            guesses = [t for c, t in emergences if c == concept]
            truths = [t for c, t in label.emergences if c == concept]
            tp = _match(guesses, truths, tolerance)
            counts[concept][0] += tp
            counts[concept][1] += len(guesses) - tp
            counts[concept][2] += len(truths) - tp
        concept_set_agreement += present == set(label.concepts_present)
        safety_agreement += bool(present & set(SAFETY_CONCEPTS)) == bool(
            label.concepts_present & set(SAFETY_CONCEPTS)
        )
    total = [sum(v[i] for v in counts.values()) for i in range(3)]
    n = max(len(labelled), 1)
    return {
        "n_responses": len(labelled),
        "onset": {"micro": _f1(*total), **{c: _f1(*v) for c, v in counts.items()}},
        "response_agreement": {
            "safety_phase": safety_agreement / n,
            "concept_set": concept_set_agreement / n,
        },
    }


def evaluate_results(results: Sequence[PhaseResult], labelled: Sequence[Labelled]) -> dict:
    """Score detector results, in the same order as `labelled`."""
    return score_predictions(
        [[(e.concept, e.token_index) for e in r.segmentation.emergences] for r in results],
        [{p.concept for p in r.segmentation.phases} for r in results],
        labelled,
        results[0].concepts if results else (),
    )


def _evaluate_settings(
    labelled: Sequence[Labelled],
    scores: Sequence[np.ndarray],
    concepts: ConceptSet,
    settings: SegmentationSettings,
) -> float:
    predicted, present = [], []
    for item, item_scores in zip(labelled, scores, strict=True):
        seg = segment(item.tokens, item_scores, concepts, settings)
        predicted.append([(e.concept, e.token_index) for e in seg.emergences])
        present.append({p.concept for p in seg.phases})
    return score_predictions(predicted, present, labelled, concepts.names)["onset"]["micro"]["f1"]


def calibrate_settings(
    labelled: Sequence[Labelled],
    scores: Sequence[np.ndarray],
    concepts: ConceptSet,
    scorer: str,
    passes: int = 2,
) -> tuple[SegmentationSettings, float]:
    """Choose enter and exit thresholds per concept and min_tokens by onset micro-F1.

    Coordinate ascent over the grids ENTER_GRID and EXIT_OFFSETS: each concept's pair is
    tuned in turn with the others fixed, `passes` times over all concepts, then min_tokens.
    Returns the settings and their F1 on `labelled`.
    """
    if scorer not in ENTER_GRID:
        raise ValueError(
            f"scorer {scorer!r} has no calibration grid: use embedding, lexical or hybrid"
        )
    grid = ENTER_GRID[scorer]
    enter = {name: grid[len(grid) // 2] for name in concepts.names}
    exit_ = dict(enter)
    min_tokens = 2

    def settings() -> SegmentationSettings:
        return SegmentationSettings(dict(enter), dict(exit_), min_tokens=min_tokens)

    best = _evaluate_settings(labelled, scores, concepts, settings())
    for _ in range(passes):
        for name in concepts.names:
            for value in grid:
                for offset in EXIT_OFFSETS[scorer]:
                    old = enter[name], exit_[name]
                    floor = SCORE_FLOOR.get(scorer, -math.inf)
                    enter[name], exit_[name] = value, max(floor, round(value - offset, 4))
                    f1 = _evaluate_settings(labelled, scores, concepts, settings())
                    if f1 > best:
                        best = f1
                    else:
                        enter[name], exit_[name] = old
        for value in MIN_TOKENS_GRID:
            old_min = min_tokens
            min_tokens = value
            f1 = _evaluate_settings(labelled, scores, concepts, settings())
            if f1 > best:
                best = f1
            else:
                min_tokens = old_min
    return settings(), best
