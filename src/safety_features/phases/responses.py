"""Generations with their detected safety phase, and safety-phase rates over groups of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from safety_features.models.generation import Generation
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import Prompt
from safety_features.phases.lexicon import LexiconOnset, find_safety_onset


@dataclass(frozen=True)
class DetectedResponse:
    prompt: Prompt
    generation: Generation
    onset: LexiconOnset | None
    """The safety-phase onset, or None when the response has no safety phase."""

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
        }


def detect_responses(
    loaded: LoadedModel, prompts: Sequence[Prompt], generations: Sequence[Generation]
) -> list[DetectedResponse]:
    return [
        DetectedResponse(
            prompt,
            generation,
            find_safety_onset(generation.response, generation.response_token_ids, loaded.tokenizer),
        )
        for prompt, generation in zip(prompts, generations, strict=True)
    ]


def safety_rate(responses: Iterable[DetectedResponse], concept: str | None = None) -> float:
    """Share of responses with a safety phase (of `concept`, when given); NaN for no responses."""
    flags = [
        r.onset is not None and (concept is None or r.onset.concept == concept) for r in responses
    ]
    return sum(flags) / len(flags) if flags else float("nan")
