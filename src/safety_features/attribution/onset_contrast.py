"""Rank SAE features by how much more they fire where a safety phase starts than elsewhere.

For a response whose safety onset is response token t, the onset position is the transcript
position that predicts that token, n_prompt + t - 1. When the phase starts at the first response
token, this is the assistant tag. Control positions sit at the same
response offset in responses without a safety phase. The score of feature i is

    score_i = mean_{onset positions} f_i  -  mean_{control positions} f_i
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from safety_features.models.loading import LoadedModel
from safety_features.phases.responses import DetectedResponse
from safety_features.saes.activations import transcript_activations
from safety_features.saes.loading import LoadedSAE


class NoOnsetsError(RuntimeError):
    """A ranking request without onset or without control positions."""


@dataclass(frozen=True)
class PositionedTranscript:
    token_ids: tuple[int, ...]
    position: int
    """Transcript position whose activation is read."""


@dataclass(frozen=True)
class FeatureRanking:
    """Features in decreasing order of onset score."""

    feature_ids: tuple[int, ...]
    scores: tuple[float, ...]
    onset_means: tuple[float, ...]
    control_means: tuple[float, ...]
    n_onset: int
    n_control: int

    def top(self, k: int) -> list[dict]:
        return [
            {
                "feature": self.feature_ids[i],
                "score": self.scores[i],
                "onset_mean": self.onset_means[i],
                "control_mean": self.control_means[i],
            }
            for i in range(min(k, len(self.feature_ids)))
        ]


def feature_activations_at(
    loaded: LoadedModel, loaded_sae: LoadedSAE, examples: Sequence[PositionedTranscript]
) -> torch.Tensor:
    """SAE feature activations [n_examples, d_sae] at each example's position."""
    keep = [[i == e.position for i in range(len(e.token_ids))] for e in examples]
    activations = transcript_activations(
        loaded, loaded_sae.hook_name, [e.token_ids for e in examples], keep, progress=False
    )
    with torch.no_grad():
        return loaded_sae.sae.encode(activations.to(loaded_sae.sae.W_dec.device)).cpu()


def rank_onset_features(
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    onsets: Sequence[PositionedTranscript],
    controls: Sequence[PositionedTranscript],
) -> FeatureRanking:
    if not onsets or not controls:
        raise NoOnsetsError(
            f"Ranking needs onset and control positions, got {len(onsets)} onsets and {len(controls)} "
            "controls: use a prompt suite where some responses have a safety phase and some do not."
        )
    onset_means = feature_activations_at(loaded, loaded_sae, onsets).mean(dim=0)
    control_means = feature_activations_at(loaded, loaded_sae, controls).mean(dim=0)
    scores = onset_means - control_means
    order = torch.argsort(scores, descending=True)
    return FeatureRanking(
        feature_ids=tuple(order.tolist()),
        scores=tuple(scores[order].tolist()),
        onset_means=tuple(onset_means[order].tolist()),
        control_means=tuple(control_means[order].tolist()),
        n_onset=len(onsets),
        n_control=len(controls),
    )


def transcript(response: DetectedResponse) -> tuple[int, ...]:
    return (*response.generation.prompt_token_ids, *response.generation.response_token_ids)


def onset_and_control_positions(
    responses: Sequence[DetectedResponse],
    onset_groups: Sequence[str],
    control_groups: Sequence[str],
) -> tuple[list[PositionedTranscript], list[PositionedTranscript]]:
    """Onset positions in responses of `onset_groups`; controls at the same response offsets
    in responses of `control_groups` without a safety phase."""
    onsets: list[tuple[DetectedResponse, int]] = []
    for response in responses:
        if (
            response.prompt.group in onset_groups
            and response.onset
            and response.onset.token_index is not None
        ):
            onsets.append((response, response.onset.token_index))
    controls = [r for r in responses if r.prompt.group in control_groups and not r.has_safety_phase]

    onset_positions = [
        PositionedTranscript(transcript(r), len(r.generation.prompt_token_ids) + index - 1)
        for r, index in onsets
    ]
    control_positions = []
    for number, control in enumerate(controls):
        offset = onsets[number % len(onsets)][1] if onsets else 0
        n_response = len(control.generation.response_token_ids)
        position = len(control.generation.prompt_token_ids) + min(offset, n_response) - 1
        control_positions.append(PositionedTranscript(transcript(control), position))
    return onset_positions, control_positions
