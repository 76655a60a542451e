"""Generations with their detected safety phase, and safety-phase rates over groups of them.

With a PhaseDetector, a response's safety onset is the first emergence of a safety concept
(`SAFETY_CONCEPTS`) and its phases are kept. Without one, the phrase lexicon finds the onset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from safety_features.models.generation import Generation
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import Prompt
from safety_features.phases.detect import PhaseDetector, PhaseResult
from safety_features.phases.lexicon import find_safety_onset


@dataclass(frozen=True)
class SafetyOnset:
    concept: str
    char_start: int
    token_index: int | None
    """Index of the response token containing `char_start`, when known."""
    phrase: str
    """The text of the phase's first clause, or the lexicon phrase that matched."""


@dataclass(frozen=True)
class DetectedResponse:
    prompt: Prompt
    generation: Generation
    onset: SafetyOnset | None
    """The safety-phase onset, or None when the response has no safety phase."""
    phases: PhaseResult | None = None
    """Every phase of the response, when a PhaseDetector was used."""

    @property
    def has_safety_phase(self) -> bool:
        return self.onset is not None

    def to_record(self) -> dict:
        onset = self.onset
        return {
            "prompt": self.prompt.text,
            "group": self.prompt.group,
            "category": self.prompt.category,
            "response": self.generation.response,
            "response_token_ids": list(self.generation.response_token_ids),
            "finished": self.generation.finished,
            "safety_phase": onset is not None,
            "onset_concept": onset.concept if onset else None,
            "onset_char": onset.char_start if onset else None,
            "onset_token": onset.token_index if onset else None,
            "onset_phrase": onset.phrase if onset else None,
            "phases": [vars(p) for p in self.phases.segmentation.phases] if self.phases else None,
            "transitions": (
                [vars(t) for t in self.phases.segmentation.transitions] if self.phases else None
            ),
        }


def detect_responses(
    loaded: LoadedModel,
    prompts: Sequence[Prompt],
    generations: Sequence[Generation],
    detector: PhaseDetector | None = None,
) -> list[DetectedResponse]:
    """Find the safety onset of each generation, with `detector` or else the phrase lexicon."""
    if detector is None:
        detected = []
        for prompt, generation in zip(prompts, generations, strict=True):
            found = find_safety_onset(
                generation.response, generation.response_token_ids, loaded.tokenizer
            )
            onset = (
                SafetyOnset(found.concept, found.char_start, found.token_index, found.phrase)
                if found
                else None
            )
            detected.append(DetectedResponse(prompt, generation, onset))
        return detected

    results = detector.detect(
        token_ids=[g.response_token_ids for g in generations],
        ids=[str(i) for i in range(len(generations))],
        prompts=[p.text for p in prompts],
    )
    detected = []
    for prompt, generation, result in zip(prompts, generations, results, strict=True):
        emergence = result.first_onset()
        onset = None
        if emergence is not None:
            phase = next(
                p for p in result.segmentation.phases if p.token_start == emergence.token_index
            )
            onset = SafetyOnset(
                emergence.concept,
                emergence.char_index,
                emergence.token_index,
                result.text[phase.char_start : phase.char_end],
            )
        detected.append(DetectedResponse(prompt, generation, onset, result))
    return detected


def safety_rate(responses: Iterable[DetectedResponse], concept: str | None = None) -> float:
    """Share of responses with a safety phase (of `concept`, when given); NaN for no responses."""
    flags = [
        r.onset is not None and (concept is None or r.onset.concept == concept) for r in responses
    ]
    return sum(flags) / len(flags) if flags else float("nan")
