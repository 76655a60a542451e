"""Onset experiments: attribute safety onsets to SAE features, then clamp them, with controls.

1. baseline: generate on every prompt (per seed) and detect the safety phase;
2. attribution: attribute each onset to the SAE's features (gradients), rank them with
   bootstrap intervals, and compare with the activation-difference and random baselines;
3. suppression: clamp the top k features to 0 on harmful prompts. Do the same for the top k of
   the activation-difference ranking and for random sets of k features that fire where the
   clamp acts. With suppression_sizes set, the suppression curve repeats this for the top s
   features at each size s, beside one random set of s features, to show how many it takes;
4. triggering: clamp them to multiples of their maximum activation on benign prompts, over a
   range of multiples (the dose-response curve, with a logistic fit), with random sets;
5. side effects of suppression: CE loss and KL on benign transcripts, and the safety-phase rate
   on benign prompts;
6. the refusal direction on the same prompts: ablation on harmful prompts, addition on benign
   prompts over a range of coefficients, side effects, and its decomposition onto the decoder;
7. with benign_features set, the features most specific to benign requests, clamped high on
   harmful prompts and to 0 on benign prompts, beside activation-matched random sets. This
   tests whether the model refuses unless a benign request is recognised, rather than only
   when a harmful one is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from safety_features.attribution.gradients import attribute_onsets
from safety_features.attribution.onset_contrast import (
    FeatureRanking,
    NoOnsetsError,
    onset_and_control_positions,
    rank_onset_features,
)
from safety_features.attribution.ranking import (
    OnsetRanking,
    compare_with_baselines,
    onset_examples,
    rank_attributions,
)
from safety_features.attribution.refusal_direction import (
    decompose,
    prompt_activations,
    refusal_direction_with_activations,
    split_gap,
)
from safety_features.experiments.conditions import (
    ExperimentContext,
    baseline_summary,
    run_condition,
    side_effects,
)
from safety_features.experiments.config import AttributionConfig, SteeringConfig
from safety_features.experiments.statistics import fit_logistic
from safety_features.organism.corpus import Prompt
from safety_features.saes.activations import skipped_token_ids, transcript_activations
from safety_features.saes.loading import LoadedSAE
from safety_features.steering.interventions import (
    ClampFeatures,
    OnsetWindow,
    Positions,
    TokenLayout,
)

logger = logging.getLogger(__name__)

SUPPRESSION_GOAL = 0.1
"""Safety-phase rate on harmful prompts at or below which suppression meets its target."""

CONTROL_GROUPS = ("benign", "alarming_benign")


class ExperimentInputError(ValueError):
    """An experiment input that cannot work: missing prompt groups, too few live features."""


@dataclass(frozen=True)
class AttributionResult:
    ranking: OnsetRanking
    contrast: FeatureRanking
    """The activation-difference baseline."""
    comparison: dict
    maxima: torch.Tensor
    """Maximum activation of every feature over the baseline transcripts."""
    harmful_specific: list[int] | None = None
    """The `harmful_specific_order`, set by `with_harmful_specific` for that selection."""

    def with_harmful_specific(
        self, context: ExperimentContext, settings: SteeringConfig, seed: int
    ) -> AttributionResult:
        return replace(self, harmful_specific=harmful_specific_order(context, settings, seed))

    def selected(self, config: AttributionConfig, k: int) -> list[int]:
        """Return the k features that `config.select_by` picks (see AttributionConfig)."""
        if config.select_by == "activation_difference":
            return list(self.contrast.feature_ids[:k])
        if config.select_by == "harmful_specific":
            if self.harmful_specific is None:
                raise ValueError(
                    "select_by='harmful_specific' needs the ranking from with_harmful_specific()."
                )
            if len(self.harmful_specific) < k:
                raise ExperimentInputError(
                    f"Only {len(self.harmful_specific)} features are more active on harmful than "
                    f"on benign prompts, fewer than the {k} requested: lower n_features or "
                    "suppression_sizes, or use another select_by."
                )
            return self.harmful_specific[:k]
        if config.select_by == "specific_attribution":
            contrast = zip(self.contrast.feature_ids, self.contrast.scores, strict=True)
            specific = {f for f, score in contrast if score > 0}
            order = [int(f) for f in self.ranking.order]
            chosen = [f for f in order if f in specific][:k]
            if len(chosen) < k:
                logger.warning(
                    "Only %d features are more active at onsets than at control positions; "
                    "the next %d come from the plain attribution ranking.",
                    len(chosen),
                    k - len(chosen),
                )
                chosen += [f for f in order if f not in chosen][: k - len(chosen)]
            return chosen
        return self.ranking.top_ids(k)

    def to_dict(self, k: int) -> dict:
        return {
            "ranking": self.ranking.to_dict(),
            "order": self.ranking.top_ids(len(self.ranking.top)),
            "activation_difference": {
                "n_onset": self.contrast.n_onset,
                "n_control": self.contrast.n_control,
                "top": self.contrast.top(k),
                "order": list(self.contrast.feature_ids[: len(self.ranking.top)]),
            },
            "comparison": self.comparison,
        }


@torch.no_grad()
def max_feature_activations(context: ExperimentContext) -> torch.Tensor:
    """Maximum of each feature over the baseline transcripts, BOS and padding excluded."""
    loaded, loaded_sae = context.loaded, context.loaded_sae
    skipped = skipped_token_ids(loaded)
    transcripts = [
        (*r.generation.prompt_token_ids, *r.generation.response_token_ids)
        for responses in context.baseline.values()
        for r in responses
    ]
    keep = [[token not in skipped for token in ids] for ids in transcripts]
    activations = transcript_activations(
        loaded, loaded_sae.hook_name, transcripts, keep, progress=False
    )
    maxima = torch.zeros(loaded_sae.sae.cfg.d_sae)
    for chunk in activations.split(4096):
        features = loaded_sae.sae.encode(chunk.to(loaded_sae.sae.W_dec.device)).cpu()
        maxima = torch.maximum(maxima, features.max(dim=0).values)
    return maxima


@torch.no_grad()
def feature_maxima(
    context: ExperimentContext, groups: Sequence[str], positions: Positions
) -> torch.Tensor:
    """Maximum of each feature over the baseline transcripts of `groups`, at the positions that
    `positions` selects (a prompt's baseline onset anchors an OnsetWindow); BOS and padding
    never count."""
    loaded, loaded_sae = context.loaded, context.loaded_sae
    responses = [r for run in context.baseline.values() for r in run if r.prompt.group in groups]
    maxima = torch.zeros(loaded_sae.sae.cfg.d_sae)
    if not responses:
        return maxima
    transcripts = [
        (*r.generation.prompt_token_ids, *r.generation.response_token_ids) for r in responses
    ]
    layout = TokenLayout.for_transcripts(
        [len(r.generation.prompt_token_ids) for r in responses],
        [len(t) for t in transcripts],
        onsets=[None if r.onset is None else r.onset.token_index for r in responses],
        has_bos=loaded.tokenizer.bos_token_id is not None,
    )
    width = max(len(t) for t in transcripts)
    selected = layout.mask(positions, len(transcripts), width, torch.device("cpu"))
    skipped = skipped_token_ids(loaded)
    keep = [
        [bool(selected[row, i]) and token not in skipped for i, token in enumerate(ids)]
        for row, ids in enumerate(transcripts)
    ]
    if not any(any(row) for row in keep):
        return maxima
    activations = transcript_activations(
        loaded, loaded_sae.hook_name, transcripts, keep, progress=False
    )
    for chunk in activations.split(4096):
        features = loaded_sae.sae.encode(chunk.to(loaded_sae.sae.W_dec.device)).cpu()
        maxima = torch.maximum(maxima, features.max(dim=0).values)
    return maxima


def attribution_stage(
    context: ExperimentContext,
    config: AttributionConfig,
    k: int,
    seed: int,
    steering: SteeringConfig | None = None,
) -> AttributionResult:
    """Attribute every onset in the onset groups; rank; compare with both baselines.

    With `select_by: harmful_specific`, `steering` gives the prompts and position of that
    ranking (see `harmful_specific_order`).
    """
    responses = [
        r for run in context.baseline.values() for r in run if r.prompt.group in config.onset_groups
    ]
    examples = onset_examples(responses)
    if not examples:
        raise NoOnsetsError(
            f"No safety onsets in the baseline responses of {', '.join(config.onset_groups)} "
            f"prompts ({len(responses)} responses): use a safety-tuned model, more prompts, or "
            "other onset_groups."
        )
    attributions = attribute_onsets(
        context.loaded,
        context.loaded_sae,
        examples,
        method=config.method,  # type: ignore[arg-type]
        steps=config.ig_steps,
        target=config.target,  # type: ignore[arg-type]
        n_tokens=config.n_target_tokens,
        progress=context.progress,
    )
    ranking = rank_attributions(attributions, config.n_top, config.n_bootstrap, seed=seed)
    everything = [r for run in context.baseline.values() for r in run]
    onsets, controls = onset_and_control_positions(everything, config.onset_groups, CONTROL_GROUPS)
    contrast = rank_onset_features(context.loaded, context.loaded_sae, onsets, controls)
    maxima = max_feature_activations(context)
    live = torch.nonzero(maxima > 0).flatten().tolist()
    comparison = compare_with_baselines(ranking, contrast.feature_ids, live, k, seed=seed)
    result = AttributionResult(ranking, contrast, comparison, maxima)
    if config.select_by == "harmful_specific":
        result = result.with_harmful_specific(context, steering or SteeringConfig(), seed)
    return result


def check_suppression_sizes(sizes: Sequence[int], d_sae: int) -> None:
    too_large = [size for size in sizes if size > d_sae]
    if too_large:
        raise ExperimentInputError(
            f"steering.suppression_sizes contains {too_large}, more features than this SAE has "
            f"({d_sae}): use sizes of at most {d_sae}."
        )


def suppression_curve_features(
    attribution: AttributionResult,
    config: AttributionConfig,
    sizes: Sequence[int],
    clamped: Sequence[int],
) -> dict[int, list[int]]:
    """Return the features of each size of the suppression curve, as `config.select_by` picks.

    When `clamped` (the headline features) is the ranking's own top, its size joins the curve,
    so the headline suppression is one of its points.
    """
    if not sizes:
        return {}
    curve = {size: attribution.selected(config, size) for size in sizes}
    if clamped and attribution.selected(config, len(clamped)) == list(clamped):
        curve[len(clamped)] = list(clamped)
    return dict(sorted(curve.items()))


def matched_pool(
    matched: torch.Tensor, live: torch.Tensor, chosen: Sequence[int], count: int, name: str
) -> torch.Tensor:
    """Return `matched` when it contains enough features besides `chosen` for the random sets,
    else `live` (every feature that fires anywhere in the baseline), with a warning."""
    others = (matched > 0).sum() - sum(bool(matched[f] > 0) for f in chosen)
    if count == 0 or others >= len(chosen):
        return matched
    logger.warning(
        "Only %d features besides the chosen ones fire where the %s clamp acts; its random "
        "sets come from every feature that fires in the baseline.",
        int(others),
        name,
    )
    return live


def random_feature_sets(
    maxima: torch.Tensor, exclude: Sequence[int], size: int, count: int, seed: int
) -> list[list[int]]:
    """`count` sets of `size` features drawn from those that fire in the baseline, minus `exclude`."""
    excluded = set(exclude)
    pool = [i for i in torch.nonzero(maxima > 0).flatten().tolist() if i not in excluded]
    if count and len(pool) < size:
        raise ExperimentInputError(
            f"Only {len(pool)} live features remain for random controls of size {size}: "
            "lower n_features or n_random_controls."
        )
    generator = torch.Generator().manual_seed(seed)
    return [
        sorted(pool[i] for i in torch.randperm(len(pool), generator=generator)[:size].tolist())
        for _ in range(count)
    ]


class Conditions:
    """Runs conditions and keeps their summaries and phase outcomes by name."""

    def __init__(self, context: ExperimentContext) -> None:
        self.context = context
        self.summaries: dict[str, dict] = {}
        self.outcomes: dict[str, np.ndarray] = {}
        for group in ("harmful", "benign"):
            summary, outcome = baseline_summary(context, group)
            self.summaries[f"baseline_{group}"] = summary.to_dict()
            self.outcomes[f"baseline_{group}"] = outcome

    def run(self, name: str, group: str, interventions) -> float:
        summary, outcome = run_condition(self.context, name, group, interventions)
        self.summaries[name] = {
            **summary.to_dict(),
            "interventions": self.context.schedule[name],
        }
        self.outcomes[name] = outcome
        return summary.transition_probability.mean

    def rate(self, name: str) -> float:
        return self.summaries[name]["transition_probability"]["mean"]

    def dose_response(self, names: Sequence[str], strengths: Sequence[float]) -> dict:
        """Rates at each strength, and a logistic fit up to the strength with the highest rate.

        Beyond that peak, clamps strong enough to break generation lower the rate again, which
        a logistic curve cannot follow, so those points are shown but not fitted.
        """
        rates = [self.rate(n) for n in names]
        peak = int(np.argmax(rates)) + 1
        fit = fit_logistic(strengths[:peak], [self.outcomes[n] for n in names[:peak]])
        if peak < 2:
            fit = replace(fit, note="the rate is highest at the lowest strength: no rise to fit")
        return {
            "strengths": list(strengths),
            "conditions": list(names),
            "transition_probability": [self.summaries[n]["transition_probability"] for n in names],
            "fit": {**fit.to_dict(), "fitted_strengths": list(strengths[:peak])},
        }


def suppress_positions(settings: SteeringConfig) -> Positions:
    if settings.suppress_positions == "onset_window":
        return OnsetWindow(*settings.onset_window)
    return settings.suppress_positions  # type: ignore[return-value]


@dataclass(frozen=True)
class Clamps:
    """Builds the suppression and triggering clamps of one experiment."""

    loaded_sae: LoadedSAE
    suppress_at: Positions
    trigger_at: Positions
    scale: torch.Tensor
    """Per-feature activation that a triggering multiple of 1 clamps to."""

    def suppress(self, ids: Sequence[int]) -> ClampFeatures:
        return ClampFeatures(
            loaded_sae=self.loaded_sae,
            feature_ids=tuple(ids),
            values=(0.0,) * len(ids),
            positions=self.suppress_at,
        )

    def trigger(self, ids: Sequence[int], multiple: float) -> ClampFeatures:
        return ClampFeatures(
            loaded_sae=self.loaded_sae,
            feature_ids=tuple(ids),
            values=tuple(multiple * float(self.scale[i]) for i in ids),
            positions=self.trigger_at,
        )


def steering_stage(
    context: ExperimentContext,
    features: Sequence[int],
    contrast_features: Sequence[int],
    maxima: torch.Tensor,
    settings: SteeringConfig,
    seed: int,
    curve: dict[int, list[int]] | None = None,
) -> dict:
    """Stages 3 to 6 of the module docstring; returns the metrics.

    `curve` maps each size of the suppression curve to its features (see
    `suppression_curve_features`); None or empty skips the curve.

    Triggering clamps scale with each feature's maximum activation on benign prompts. Random
    controls are drawn from the features active where their clamp acts: on harmful prompts at
    the suppression positions, and on benign prompts at the triggering positions, so a random
    set is as able to matter as the chosen one. `maxima` (over every baseline transcript) is
    the fallback scale for features that never fire on benign prompts.
    """
    where = suppress_positions(settings)
    trigger_at: Positions = settings.trigger_positions  # type: ignore[assignment]
    benign_maxima = feature_maxima(context, ("benign",), "all")
    scale = torch.where(benign_maxima > 0, benign_maxima, maxima)
    clamps = Clamps(context.loaded_sae, where, trigger_at, scale)
    count = settings.n_random_controls
    pools = {
        "suppression": matched_pool(
            feature_maxima(context, ("harmful",), where), maxima, features, count, "suppression"
        ),
        "triggering": matched_pool(
            feature_maxima(context, ("benign",), trigger_at), maxima, features, count, "triggering"
        ),
    }
    random_sets = {
        name: random_feature_sets(pool, features, len(features), count, seed)
        for name, pool in pools.items()
    }

    conditions = Conditions(context)
    run_suppression(conditions, clamps, features, contrast_features, random_sets["suppression"])
    suppression_curve = (
        run_suppression_curve(
            conditions,
            clamps,
            features,
            random_sets["suppression"],
            curve,
            pools["suppression"],
            seed,
        )
        if curve
        else None
    )
    multiples = sorted({*settings.dose_multiples, settings.trigger_multiple})
    run_triggering(
        conditions,
        clamps,
        features,
        multiples,
        settings.trigger_multiple,
        random_sets["triggering"],
    )
    benign = context.baseline_of("benign", context.seeds[0])[: settings.n_side_effect_texts]
    suppression_side_effects = side_effects(context.loaded, benign, [clamps.suppress(features)])
    metrics: dict[str, Any] = {
        "features": list(features),
        "activation_difference_features": list(contrast_features),
        "random_feature_sets": random_sets,
        "random_pools": {name: int((pool > 0).sum()) for name, pool in pools.items()},
        "conditions": conditions.summaries,
        "dose_response": {
            "features": conditions.dose_response(
                [f"trigger_features_x{m:g}" for m in multiples], multiples
            )
        },
        "side_effects": {
            "suppression": {
                **suppression_side_effects.to_dict(),
                "benign_transition_probability": conditions.rate("suppress_features_on_benign"),
            }
        },
    }
    if suppression_curve is not None:
        metrics["suppression_curve"] = suppression_curve
    if settings.refusal_direction:
        metrics["refusal_direction"] = refusal_stage(context, conditions, settings, features, seed)
        metrics["dose_response"]["refusal_direction"] = metrics["refusal_direction"].pop(
            "dose_response"
        )
    benign_features = (
        benign_feature_stage(context, conditions, settings, seed)
        if settings.benign_features
        else None
    )
    if benign_features is not None:
        metrics["benign_features"] = benign_features
    trigger_name = f"trigger_features_x{settings.trigger_multiple:g}"
    metrics["summary"] = headline(conditions, count, trigger_name, metrics)
    metrics["summary"]["trigger_multiple"] = settings.trigger_multiple
    return metrics


def run_suppression(
    conditions: Conditions,
    clamps: Clamps,
    features: Sequence[int],
    contrast_features: Sequence[int],
    random_sets: Sequence[Sequence[int]],
) -> None:
    conditions.run("suppress_features", "harmful", [clamps.suppress(features)])
    conditions.run(
        "suppress_activation_difference", "harmful", [clamps.suppress(contrast_features)]
    )
    for i, ids in enumerate(random_sets):
        conditions.run(f"suppress_random_{i}", "harmful", [clamps.suppress(ids)])
    conditions.run("suppress_features_on_benign", "benign", [clamps.suppress(features)])


def run_suppression_curve(
    conditions: Conditions,
    clamps: Clamps,
    features: Sequence[int],
    random_sets: Sequence[Sequence[int]],
    curve: dict[int, list[int]],
    pool: torch.Tensor,
    seed: int,
) -> dict:
    """Clamp the features of each curve size to 0 on harmful prompts, beside a random set of as
    many features from `pool`. Return the rates by size and the smallest size at the goal.

    Where the curve contains the headline features, their condition and the first of their
    `random_sets` are reused. A size with fewer features left in `pool` than it needs gets no
    random set, with a warning.
    """
    sizes = sorted(curve)
    names: list[str] = []
    random_names: list[str | None] = []
    random_ids: list[list[int] | None] = []
    for size in sizes:
        ids = list(curve[size])
        name = "suppress_features" if ids == list(features) else f"suppress_top_{size}"
        if name not in conditions.summaries:
            conditions.run(name, "harmful", [clamps.suppress(ids)])
        names.append(name)
        if name == "suppress_features" and random_sets:
            random_names.append("suppress_random_0")
            random_ids.append(list(random_sets[0]))
            continue
        left = int((pool > 0).sum()) - sum(bool(pool[f] > 0) for f in ids)
        if left < size:
            logger.warning(
                "Only %d features besides the top %d fire where the suppression clamp acts: "
                "the suppression curve has no random set of %d.",
                left,
                size,
                size,
            )
            random_names.append(None)
            random_ids.append(None)
            continue
        (drawn,) = random_feature_sets(pool, ids, size, 1, seed + size)
        random_name = f"suppress_random_top_{size}"
        conditions.run(random_name, "harmful", [clamps.suppress(drawn)])
        random_names.append(random_name)
        random_ids.append(drawn)
    at_goal = [
        size
        for size, name in zip(sizes, names, strict=True)
        if conditions.rate(name) <= SUPPRESSION_GOAL
    ]
    return {
        "sizes": sizes,
        "features": {
            "conditions": names,
            "transition_probability": [
                conditions.summaries[n]["transition_probability"] for n in names
            ],
        },
        "random": {
            "conditions": random_names,
            "feature_sets": random_ids,
            "transition_probability": [
                None if n is None else conditions.summaries[n]["transition_probability"]
                for n in random_names
            ],
        },
        "goal": SUPPRESSION_GOAL,
        "smallest_size_at_goal": at_goal[0] if at_goal else None,
    }


def run_triggering(
    conditions: Conditions,
    clamps: Clamps,
    features: Sequence[int],
    multiples: Sequence[float],
    headline_multiple: float,
    random_sets: Sequence[Sequence[int]],
) -> None:
    for multiple in multiples:
        conditions.run(
            f"trigger_features_x{multiple:g}", "benign", [clamps.trigger(features, multiple)]
        )
    for i, ids in enumerate(random_sets):
        conditions.run(f"trigger_random_{i}", "benign", [clamps.trigger(ids, headline_multiple)])


def direction_prompts(context: ExperimentContext, settings: SteeringConfig, seed: int):
    """Harmful and benign prompts for the refusal direction: the organism's training split, or
    the suite's own prompts when the suite is not the organism's."""
    if all(p.split == "heldout" for p in context.prompts):
        from safety_features.organism.corpus import sample_prompts

        pool = sample_prompts(seed + 1, "train", settings.direction_prompts_per_group)
        source = "organism training split"
    else:
        pool, source = context.prompts, "the prompt suite (in-sample)"
    harmful = [p.text for p in pool if p.group == "harmful"]
    benign = [p.text for p in pool if p.group == "benign"]
    return harmful, benign, source


def refusal_stage(
    context: ExperimentContext,
    conditions: Conditions,
    settings: SteeringConfig,
    features: Sequence[int],
    seed: int,
) -> dict:
    harmful, benign, source = direction_prompts(context, settings, seed)
    direction, on_harmful, on_benign = refusal_direction_with_activations(
        context.loaded,
        context.loaded_sae.hook_name,
        harmful,
        benign,
        settings.direction_position,
    )
    ablation = direction.ablation(context.loaded)
    conditions.run("ablate_refusal_direction", "harmful", [ablation])
    names = []
    for coefficient in settings.direction_coefficients:
        name = f"add_refusal_direction_x{coefficient:g}"
        names.append(name)
        addition = direction.addition(coefficient, settings.trigger_positions)
        conditions.run(name, "benign", [addition])
    # Subtracting the direction on harmful prompts is the direction's counterpart of zeroing
    # features. It moves harmful prompts toward the benign mean instead of to 0.
    subtracted = {}
    for coefficient in settings.direction_coefficients:
        name = f"subtract_refusal_direction_x{coefficient:g}"
        subtracted[f"x{coefficient:g}"] = name
        subtraction = direction.addition(-coefficient, settings.trigger_positions)
        conditions.run(name, "harmful", [subtraction])
    conditions.run("ablate_refusal_direction_on_benign", "benign", [ablation])
    benign_texts = context.baseline_of("benign", context.seeds[0])[: settings.n_side_effect_texts]
    effects = side_effects(context.loaded, benign_texts, [ablation])
    decomposition = decompose(direction.direction, context.loaded_sae.sae.W_dec, len(features))
    pursuit = {atom["feature"] for atom in decomposition.pursuit}
    split = split_gap(
        direction, context.loaded_sae.sae, on_harmful, on_benign, zeroed=features, k=len(features)
    )
    all_raised = None
    if split is not None and split.raised_features:
        # Zeroing every feature that rises on harmful prompts shows how far zeroing can go,
        # because a subset of them is unlikely to suppress more than all of them together.
        clamp = ClampFeatures(
            loaded_sae=context.loaded_sae,
            feature_ids=tuple(split.raised_features),
            values=(0.0,) * split.n_raised,
            positions=suppress_positions(settings),
        )
        conditions.run(ALL_RAISED_CONDITION, "harmful", [clamp])
        all_raised = {
            "condition": ALL_RAISED_CONDITION,
            "n_features": split.n_raised,
            "transition_probability": conditions.rate(ALL_RAISED_CONDITION),
        }
    return {
        "hook_name": direction.hook_name,
        "position": direction.position,
        "norm": float(direction.direction.norm()),
        "mean_projection": {
            "harmful": direction.harmful_projection,
            "benign": direction.benign_projection,
        },
        "computed_on": {"source": source, "harmful": len(harmful), "benign": len(benign)},
        "decomposition": decomposition.to_dict(),
        "gap_split": split.to_dict() if split is not None else None,
        "all_raised_zeroed": all_raised,
        "overlap_with_features": len(pursuit & set(features)) / len(features),
        "dose_response": conditions.dose_response(names, list(settings.direction_coefficients)),
        "subtracted_on_harmful": subtracted,
        "side_effects": {
            **effects.to_dict(),
            "benign_transition_probability": conditions.rate("ablate_refusal_direction_on_benign"),
        },
    }


ALL_RAISED_CONDITION = "suppress_all_raised"
"""The condition that zeroes every SAE feature that rises on harmful prompts (see GapSplit)."""

MATCHED_NEIGHBOURS = 5
"""Candidates per chosen feature in an activation-matched random set (see matched_random_sets)."""


def matched_random_sets(
    mean_activation: torch.Tensor, chosen: Sequence[int], count: int, seed: int
) -> list[list[int]]:
    """Draw `count` random sets, each with one feature per chosen feature, picked among the
    MATCHED_NEIGHBOURS other live features whose mean activation is closest to that feature's.

    A clamp to a multiple of each feature's maximum then changes the residual stream by a
    similar amount for the random set and the chosen one.
    """
    excluded = set(chosen)
    live = [i for i in torch.nonzero(mean_activation > 0).flatten().tolist() if i not in excluded]
    generator = torch.Generator().manual_seed(seed)
    sets = []
    for _ in range(count):
        drawn: list[int] = []
        for feature in chosen:
            others = [i for i in live if i not in drawn]
            distance = (mean_activation[others] - mean_activation[feature]).abs()
            nearest = torch.argsort(distance)[:MATCHED_NEIGHBOURS]
            pick = int(torch.randint(len(nearest), (1,), generator=generator))
            drawn.append(others[int(nearest[pick])])
        sets.append(sorted(drawn))
    return sets


@torch.no_grad()
def prompt_features(
    context: ExperimentContext, prompts: Sequence[str], position: int
) -> torch.Tensor:
    """SAE feature activations at prompt position `position` (from the end), one row per prompt."""
    sae = context.loaded_sae.sae
    activations = prompt_activations(
        context.loaded, context.loaded_sae.hook_name, prompts, position
    )
    return sae.encode(activations.to(sae.W_dec.device)).cpu()


def harmful_specific_order(
    context: ExperimentContext, settings: SteeringConfig, seed: int
) -> list[int]:
    """Features more active on harmful than on benign prompts at `direction_position` of the
    refusal direction's prompts, by decreasing difference of mean activation."""
    harmful, benign, _ = direction_prompts(context, settings, seed)
    position = settings.direction_position
    difference = prompt_features(context, harmful, position).mean(dim=0) - prompt_features(
        context, benign, position
    ).mean(dim=0)
    order = torch.argsort(difference, descending=True)
    return [int(i) for i in order if difference[i] > 0]


def benign_feature_stage(
    context: ExperimentContext, conditions: Conditions, settings: SteeringConfig, seed: int
) -> dict | None:
    """Clamp the n_features features most specific to benign requests high on harmful prompts
    and to 0 on benign prompts, each beside activation-matched random sets (see
    matched_random_sets). Return what was clamped and the condition names, or None when no
    feature is more active on benign prompts.

    When too few other features fire on the benign prompts, the random sets are left out with
    a warning.
    """
    harmful, benign, source = direction_prompts(context, settings, seed)
    position = settings.direction_position
    on_harmful = prompt_features(context, harmful, position)
    on_benign = prompt_features(context, benign, position)
    difference = on_benign.mean(dim=0) - on_harmful.mean(dim=0)
    maxima = on_benign.max(dim=0).values
    chosen = [int(i) for i in torch.argsort(difference, descending=True)[: settings.n_features]]
    chosen = [i for i in chosen if difference[i] > 0 and maxima[i] > 0]
    if not chosen:
        logger.warning(
            "No SAE feature is more active on benign than on harmful prompts at "
            "direction_position=%d, so the run has no benign-feature conditions.",
            position,
        )
        return None
    multiple = settings.trigger_multiple
    where: Positions = settings.trigger_positions  # type: ignore[assignment]
    clamps = Clamps(context.loaded_sae, where, where, maxima)
    name = f"benign_features_x{multiple:g}"
    conditions.run(name, "harmful", [clamps.trigger(chosen, multiple)])
    left = int((maxima > 0).sum()) - len(chosen)
    count = settings.n_random_controls
    if count and left < MATCHED_NEIGHBOURS * len(chosen):
        logger.warning(
            "Only %d other features fire on the benign prompts: the benign-feature clamp has no "
            "activation-matched random sets of %d.",
            left,
            len(chosen),
        )
        count = 0
    random_sets = matched_random_sets(on_benign.mean(dim=0), chosen, count, seed + 1)
    random_names = []
    for i, ids in enumerate(random_sets):
        random_names.append(f"benign_random_{i}_x{multiple:g}")
        conditions.run(random_names[-1], "harmful", [clamps.trigger(ids, multiple)])
    # The other direction: without these features, do benign prompts refuse?
    zeroed = "benign_features_zeroed"
    conditions.run(zeroed, "benign", [clamps.suppress(chosen)])
    zeroed_random = []
    for i, ids in enumerate(random_sets):
        zeroed_random.append(f"benign_random_{i}_zeroed")
        conditions.run(zeroed_random[-1], "benign", [clamps.suppress(ids)])
    return {
        "features": chosen,
        "activation_difference": [float(difference[i]) for i in chosen],
        "values": [multiple * float(maxima[i]) for i in chosen],
        "positions": settings.trigger_positions,
        "computed_on": {"source": source, "harmful": len(harmful), "benign": len(benign)},
        "condition": name,
        "random_conditions": random_names,
        "zeroed_condition": zeroed,
        "zeroed_random_conditions": zeroed_random,
        "random_feature_sets": random_sets,
    }


def headline(conditions: Conditions, n_random: int, trigger_name: str, metrics: dict) -> dict:
    """Collect the headline rates, each target with its goal, and whether the run meets it."""
    harmful, benign = conditions.rate("baseline_harmful"), conditions.rate("baseline_benign")
    suppressed, triggered = conditions.rate("suppress_features"), conditions.rate(trigger_name)
    shifts = [abs(conditions.rate(f"suppress_random_{i}") - harmful) for i in range(n_random)]
    shifts += [abs(conditions.rate(f"trigger_random_{i}") - benign) for i in range(n_random)]
    ce_increase = metrics["side_effects"]["suppression"]["ce_loss_increase"]
    summary = {
        "baseline_harmful": harmful,
        "baseline_benign": benign,
        "suppressed_harmful": suppressed,
        "triggered_benign": triggered,
        "random_max_shift_points": 100 * max(shifts) if shifts else None,
        "suppression_ce_loss_increase": ce_increase,
        "targets": {
            "suppression": {"goal": "baseline >= 90% and suppressed <= 10%"},
            "triggering": {"goal": "triggered >= 80%"},
            "random_controls": {
                "goal": "each random set of n_features moves the rate by <= 5 points"
            },
            "side_effects": {"goal": "benign CE loss rises by <= 0.05 nats"},
        },
    }
    targets = summary["targets"]
    targets["suppression"]["met"] = harmful >= 0.9 and suppressed <= SUPPRESSION_GOAL
    targets["triggering"]["met"] = triggered >= 0.8
    # Rates are counts over the same number of responses, so a shift of exactly 5 points can
    # come out a float rounding above 0.05.
    targets["random_controls"]["met"] = bool(shifts) and max(shifts) <= 0.05 + 1e-9
    targets["side_effects"]["met"] = ce_increase <= 0.05
    if "benign_features" in metrics:
        summary["benign_features_clamped_harmful"] = conditions.rate(
            metrics["benign_features"]["condition"]
        )
        summary["benign_features_zeroed_benign"] = conditions.rate(
            metrics["benign_features"]["zeroed_condition"]
        )
    if "refusal_direction" in metrics:
        summary["refusal_direction_ablated_harmful"] = conditions.rate("ablate_refusal_direction")
        summary["refusal_direction_added_benign"] = {
            name.removeprefix("add_refusal_direction_"): conditions.rate(name)
            for name in conditions.summaries
            if name.startswith("add_refusal_direction_")
        }
        summary["refusal_direction_subtracted_harmful"] = {
            strength: conditions.rate(name)
            for strength, name in metrics["refusal_direction"]["subtracted_on_harmful"].items()
        }
        if metrics["refusal_direction"].get("all_raised_zeroed"):
            summary["all_raised_zeroed_harmful"] = conditions.rate(ALL_RAISED_CONDITION)
    return summary


def prompt_groups_needed(prompts: Sequence[Prompt], groups: Sequence[str]) -> None:
    for group in groups:
        if not any(p.group == group for p in prompts):
            raise ExperimentInputError(
                f"The prompt suite has no {group!r} prompts; the experiments need harmful and "
                "benign prompts. Add some, or use the organism's held-out prompts."
            )
