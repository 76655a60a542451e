"""From per-token concept scores to phases, emergences and transitions.

- A **c-phase** is a run of tokens [token_start, token_end) assigned to concept c. A concept
  turns on where its score reaches its `enter` threshold and stays on while the score stays
  at or above its `exit` threshold (hysteresis). Where several concepts are on at one token,
  the token goes to the one with the largest margin over its threshold. That threshold is `exit`
  for the concept of the previous token and `enter` for the others. Runs shorter
  than `min_tokens` are dropped, unless they end the response (a response cut off by the token
  limit can end in a short phase).
- A **phase emergence** is the first token of a phase whose concept was not present at the
  token before; that token is the **onset**.
- A **phase transition** is an emergence of c together with the end of a c'-phase, where c
  and c' are exclusive, with at most `transition_gap` unassigned tokens between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from safety_features.phases.concepts import ConceptSet
from safety_features.phases.text import TokenizedText


@dataclass(frozen=True)
class SegmentationSettings:
    """Thresholds per concept, in the units of the scorer's scores, and run-length limits."""

    enter: Mapping[str, float]
    exit: Mapping[str, float]
    min_tokens: int = 2
    transition_gap: int = 3

    def __post_init__(self) -> None:
        if set(self.enter) != set(self.exit):
            raise ValueError("enter and exit thresholds must name the same concepts")
        for name, value in self.exit.items():
            if value > self.enter[name]:
                raise ValueError(
                    f"exit threshold {value} of concept {name!r} is above its enter threshold "
                    f"{self.enter[name]}: use exit <= enter"
                )
        if self.min_tokens < 1:
            raise ValueError(f"invalid min_tokens {self.min_tokens}: use a positive integer")
        if self.transition_gap < 0:
            raise ValueError(f"invalid transition_gap {self.transition_gap}: use 0 or more")

    def to_dict(self) -> dict:
        return {
            "enter": dict(self.enter),
            "exit": dict(self.exit),
            "min_tokens": self.min_tokens,
            "transition_gap": self.transition_gap,
        }


@dataclass(frozen=True)
class Phase:
    concept: str
    token_start: int
    token_end: int
    """One past the last token."""
    char_start: int
    char_end: int
    """One past the last character, trailing white space excluded."""
    mean_score: float
    max_score: float


@dataclass(frozen=True)
class Emergence:
    concept: str
    token_index: int
    """The onset: the phase's first token."""
    char_index: int


@dataclass(frozen=True)
class Transition:
    from_concept: str
    to_concept: str
    token_index: int
    """Onset of the emerging phase."""
    char_index: int
    gap_tokens: int
    """Unassigned tokens between the end of the old phase and the onset."""


@dataclass(frozen=True)
class Segmentation:
    phases: tuple[Phase, ...]
    emergences: tuple[Emergence, ...]
    transitions: tuple[Transition, ...]
    labels: tuple[str | None, ...] = field(repr=False)
    """The concept assigned to each token, or None."""


def segment(
    tokens: TokenizedText,
    scores: np.ndarray,
    concepts: ConceptSet,
    settings: SegmentationSettings,
) -> Segmentation:
    """Segment one response's (tokens, concepts) score array into phases."""
    n_tokens = len(tokens)
    if scores.shape != (n_tokens, len(concepts.concepts)):
        raise ValueError(
            f"scores have shape {scores.shape}, expected ({n_tokens}, {len(concepts.concepts)}) "
            "for this response and concept set"
        )
    missing = [name for name in concepts.names if name not in settings.enter]
    if missing:
        raise ValueError(
            f"no thresholds for concept {missing[0]!r}: calibrate the concept set with "
            "`safety-features calibrate-phases`"
        )

    enter = [float(settings.enter[name]) for name in concepts.names]
    exit_ = [float(settings.exit[name]) for name in concepts.names]
    assigned = _assign(scores.tolist(), enter, exit_, concepts.names)
    runs = _drop_short_runs(_runs(assigned), settings.min_tokens, n_tokens)

    labels: list[str | None] = [None] * n_tokens
    phases = []
    for concept, start, end in runs:
        labels[start:end] = [concept] * (end - start)
        column = scores[start:end, concepts.index(concept)]
        char_start, char_end = _char_range(tokens, start, end)
        phases.append(
            Phase(
                concept, start, end, char_start, char_end, float(column.mean()), float(column.max())
            )
        )

    emergences = tuple(
        Emergence(p.concept, p.token_start, p.char_start)
        for p in phases
        if p.token_start == 0 or labels[p.token_start - 1] != p.concept
    )
    transitions = []
    for index, phase in enumerate(phases):
        candidates = [
            p
            for p in phases[:index]
            if concepts.are_exclusive(p.concept, phase.concept)
            and 0 <= phase.token_start - p.token_end <= settings.transition_gap
        ]
        if candidates:
            old = candidates[-1]
            transitions.append(
                Transition(
                    old.concept,
                    phase.concept,
                    phase.token_start,
                    phase.char_start,
                    phase.token_start - old.token_end,
                )
            )
    return Segmentation(tuple(phases), emergences, tuple(transitions), tuple(labels))


def _assign(
    rows: list[list[float]], enter: list[float], exit_: list[float], names: tuple[str, ...]
) -> list[str | None]:
    """Assign each token a concept, by hysteresis per concept and the largest margin between them.

    Plain Python loops, because per-token numpy calls on arrays of a few concepts are slower.
    """
    on = [False] * len(names)
    assigned: list[str | None] = []
    previous = -1
    for row in rows:
        on = [
            score >= (low if active else high)
            for score, active, low, high in zip(row, on, exit_, enter, strict=True)
        ]
        best, best_margin = -1, float("-inf")
        for column, active in enumerate(on):
            if not active:
                continue
            # The concept already on competes with its margin over `exit`, a concept turning
            # on with its margin over `enter`, so hysteresis also decides between concepts.
            reference = exit_[column] if column == previous else enter[column]
            if row[column] - reference > best_margin:
                best, best_margin = column, row[column] - reference
        previous = best
        assigned.append(names[best] if best >= 0 else None)
    return assigned


def _runs(assigned: list[str | None]) -> list[tuple[str, int, int]]:
    runs = []
    start = 0
    for t in range(1, len(assigned) + 1):
        if t == len(assigned) or assigned[t] != assigned[start]:
            concept = assigned[start]
            if concept is not None:
                runs.append((concept, start, t))
            start = t
    return runs


def _drop_short_runs(
    runs: list[tuple[str, int, int]], min_tokens: int, n_tokens: int
) -> list[tuple[str, int, int]]:
    return [run for run in runs if run[2] - run[1] >= min_tokens or run[2] == n_tokens]


def _char_range(tokens: TokenizedText, start: int, end: int) -> tuple[int, int]:
    """Characters of tokens [start, end) without the leading and trailing white space."""
    char_start = tokens.char_spans[start][0]
    char_end = tokens.char_spans[end - 1][1]
    text = tokens.text
    while char_start < char_end and text[char_start].isspace():
        char_start += 1
    while char_end > char_start and text[char_end - 1].isspace():
        char_end -= 1
    return char_start, char_end
