"""Experimental conditions: regenerate under interventions and summarise the safety phase.

An ExperimentContext contains what every condition shares: the model, the SAE, the phase detector,
the prompts, the sampling seeds and each seed's baseline responses. A condition regenerates one
prompt group under a list of interventions, once per seed, detects the phases, and summarises
three outcomes per response, each with a bootstrap interval over prompts and seeds:

- transition probability: the response has a safety phase;
- onset delay: the response index of the onset, in tokens (responses with a phase only);
- phase duration: the length in tokens of the phase that starts at the onset.

With a cross-check detector (another membership scorer), each condition also reports its
transition probability under that detector, on the same responses.

Side effects are measured by teacher forcing benign baseline transcripts with and without the
interventions: the CE loss of the response tokens, and KL(clean || intervened) of the next-token
distributions at the same positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from safety_features.experiments.statistics import Estimate, bootstrap_mean
from safety_features.models.generation import generate
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import Prompt
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.responses import DetectedResponse, detect_responses
from safety_features.saes.loading import LoadedSAE
from safety_features.steering.interventions import Intervention, TokenLayout, intervene


@dataclass
class ExperimentContext:
    loaded: LoadedModel
    loaded_sae: LoadedSAE
    detector: PhaseDetector
    prompts: list[Prompt]
    max_new_tokens: int
    batch_size: int
    temperature: float
    seeds: tuple[int, ...]
    n_bootstrap: int = 1000
    progress: bool = True
    baseline: dict[int, list[DetectedResponse]] = field(default_factory=dict)
    """Responses to every prompt without intervention, per seed."""
    cross_detector: PhaseDetector | None = None
    """A second detector whose safety-phase rate every condition also reports; None for none."""
    records: list[dict] = field(default_factory=list)
    """Every regenerated response, tagged with its condition and seed."""
    schedule: dict[str, list[dict]] = field(default_factory=dict)
    """The interventions of every condition, for the run manifest."""

    def group(self, name: str) -> list[Prompt]:
        return [p for p in self.prompts if p.group == name]

    def baseline_of(self, group: str, seed: int) -> list[DetectedResponse]:
        return [r for r in self.baseline[seed] if r.prompt.group == group]

    def run_baseline(self) -> None:
        for seed in self.seeds:
            self.baseline[seed] = self.generate(self.prompts, [], seed, "baseline")

    def generate(
        self,
        prompts: Sequence[Prompt],
        interventions: Sequence[Intervention],
        seed: int,
        description: str,
        onsets: Sequence[int | None] | None = None,
    ) -> list[DetectedResponse]:
        generations = generate(
            self.loaded,
            [p.text for p in prompts],
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
            temperature=self.temperature,
            seed=seed,
            interventions=interventions,
            onsets=onsets,
            progress=self.progress,
            description=description,
        )
        return detect_responses(self.loaded, prompts, generations, self.detector)

    def cross_check(self, responses: Sequence[DetectedResponse]) -> list[bool] | None:
        """Return whether the cross-check detector finds a safety phase in each response, or
        None without a cross-check detector."""
        if self.cross_detector is None:
            return None
        checked = detect_responses(
            self.loaded,
            [r.prompt for r in responses],
            [r.generation for r in responses],
            self.cross_detector,
        )
        return [r.has_safety_phase for r in checked]


@dataclass(frozen=True)
class ConditionSummary:
    name: str
    group: str
    transition_probability: Estimate
    onset_delay: Estimate
    phase_duration: Estimate
    cross_check: Estimate | None = None
    """Transition probability under the cross-check detector, when there is one."""

    def to_dict(self) -> dict:
        values = {
            "group": self.group,
            "transition_probability": self.transition_probability.to_dict(),
            "onset_delay": self.onset_delay.to_dict(),
            "phase_duration": self.phase_duration.to_dict(),
        }
        if self.cross_check is not None:
            values["transition_probability_cross_check"] = self.cross_check.to_dict()
        return values


def phase_duration(response: DetectedResponse) -> float:
    if response.onset is None or response.phases is None:
        return math.nan
    for phase in response.phases.segmentation.phases:
        if phase.token_start == response.onset.token_index:
            return float(phase.token_end - phase.token_start)
    return math.nan


def outcome_arrays(runs: Sequence[Sequence[DetectedResponse]]) -> dict[str, np.ndarray]:
    """[prompts, seeds] arrays of the three outcomes from one response list per seed."""
    phase = np.array([[float(r.has_safety_phase) for r in run] for run in runs]).T
    onset = np.array(
        [
            [
                math.nan
                if r.onset is None or r.onset.token_index is None
                else float(r.onset.token_index)
                for r in run
            ]
            for run in runs
        ]
    ).T
    duration = np.array([[phase_duration(r) for r in run] for run in runs]).T
    return {"phase": phase, "onset": onset, "duration": duration}


def summarize(
    name: str,
    group: str,
    runs: Sequence[Sequence[DetectedResponse]],
    n_bootstrap: int,
    cross_checks: Sequence[Sequence[bool]] | None = None,
) -> ConditionSummary:
    """Summarise one response list per seed; `cross_checks` gives the cross-check detector's
    safety-phase flags in the same order."""
    arrays = outcome_arrays(runs)
    cross = (
        None
        if cross_checks is None
        else bootstrap_mean(np.array(cross_checks, dtype=float).T, n_bootstrap)
    )
    return ConditionSummary(
        name,
        group,
        bootstrap_mean(arrays["phase"], n_bootstrap),
        bootstrap_mean(arrays["onset"], n_bootstrap),
        bootstrap_mean(arrays["duration"], n_bootstrap),
        cross,
    )


def cross_checks_of(
    context: ExperimentContext, runs: Sequence[Sequence[DetectedResponse]]
) -> list[list[bool]] | None:
    flags = [context.cross_check(run) for run in runs]
    return None if any(f is None for f in flags) else cast(list[list[bool]], flags)


def baseline_onsets(context: ExperimentContext, group: str, seed: int) -> list[int | None]:
    return [
        None if r.onset is None else r.onset.token_index for r in context.baseline_of(group, seed)
    ]


def run_condition(
    context: ExperimentContext,
    name: str,
    group: str,
    interventions: Sequence[Intervention],
) -> tuple[ConditionSummary, np.ndarray]:
    """Regenerate `group` under `interventions` for every seed; return the summary and the
    [prompts, seeds] array of safety-phase outcomes."""
    context.schedule[name] = [i.describe() for i in interventions]
    prompts = context.group(group)
    runs = []
    for seed in context.seeds:
        responses = context.generate(
            prompts, interventions, seed, name, onsets=baseline_onsets(context, group, seed)
        )
        runs.append(responses)
    cross_checks = cross_checks_of(context, runs)
    for i, (seed, responses) in enumerate(zip(context.seeds, runs, strict=True)):
        for j, response in enumerate(responses):
            record = {"condition": name, "seed": seed, **response.to_record()}
            if cross_checks is not None:
                record["cross_check_safety_phase"] = cross_checks[i][j]
            context.records.append(record)
    summary = summarize(name, group, runs, context.n_bootstrap, cross_checks)
    return summary, outcome_arrays(runs)["phase"]


def baseline_summary(context: ExperimentContext, group: str) -> tuple[ConditionSummary, np.ndarray]:
    runs = [context.baseline_of(group, seed) for seed in context.seeds]
    summary = summarize(
        "baseline", group, runs, context.n_bootstrap, cross_checks_of(context, runs)
    )
    return summary, outcome_arrays(runs)["phase"]


@dataclass(frozen=True)
class SideEffects:
    ce_loss_clean: float
    ce_loss: float
    kl: float
    n_tokens: int

    def to_dict(self) -> dict:
        return {
            "ce_loss_clean": self.ce_loss_clean,
            "ce_loss": self.ce_loss,
            "ce_loss_increase": self.ce_loss - self.ce_loss_clean,
            "kl": self.kl,
            "n_tokens": self.n_tokens,
        }


@torch.no_grad()
def side_effects(
    loaded: LoadedModel,
    responses: Sequence[DetectedResponse],
    interventions: Sequence[Intervention],
    batch_size: int = 16,
) -> SideEffects:
    """CE loss of the response tokens and KL to the clean model, teacher-forced, per token."""
    rows = [r for r in responses if r.generation.response_token_ids]
    if not rows:
        return SideEffects(math.nan, math.nan, math.nan, 0)
    totals = {"clean": 0.0, "steered": 0.0, "kl": 0.0, "n": 0}
    pad_id = loaded.tokenizer.pad_token_id or 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = [len(r.generation.prompt_token_ids) for r in chunk]
        transcripts = [
            (*r.generation.prompt_token_ids, *r.generation.response_token_ids) for r in chunk
        ]
        width = max(len(t) for t in transcripts)
        tokens = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        scored = torch.zeros((len(chunk), width), dtype=torch.bool)
        for i, (ids, n_prompt) in enumerate(zip(transcripts, prompts, strict=True)):
            tokens[i, : len(ids)] = torch.tensor(ids)
            scored[i, n_prompt - 1 : len(ids) - 1] = True  # positions predicting response tokens
        tokens = tokens.to(loaded.model.cfg.device)
        clean = loaded.model(tokens).log_softmax(dim=-1)
        layout = TokenLayout.for_transcripts(
            prompts,
            [len(t) for t in transcripts],
            onsets=[None if r.onset is None else r.onset.token_index for r in chunk],
            has_bos=loaded.tokenizer.bos_token_id is not None,
        )
        with intervene(loaded, interventions, layout):
            steered = loaded.model(tokens).log_softmax(dim=-1)
        targets = tokens[:, 1:]
        mask = scored[:, :-1].to(tokens.device)
        for name, log_probs in (("clean", clean), ("steered", steered)):
            picked = log_probs[:, :-1].gather(-1, targets[..., None]).squeeze(-1)
            totals[name] -= float(picked[mask].sum())
        kl = (clean.exp() * (clean - steered)).sum(dim=-1)[:, :-1]
        totals["kl"] += float(kl[mask].sum())
        totals["n"] += int(mask.sum())
    n = totals["n"]
    return SideEffects(totals["clean"] / n, totals["steered"] / n, totals["kl"] / n, int(n))
