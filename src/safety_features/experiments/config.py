"""Configurations of the main job (`safety-features run`) and of the onset experiments
(`safety-features attribute`, `safety-features steer`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from safety_features.attribution.gradients import METHODS, TARGETS
from safety_features.config import check_phase_scorer
from safety_features.organism.corpus import GROUPS
from safety_features.saes.config import SAETrainingConfig
from safety_features.steering.interventions import POSITION_NAMES

SELECTIONS = ("attribution", "specific_attribution", "activation_difference", "harmful_specific")
SUPPRESS_POSITIONS = (*POSITION_NAMES, "onset_window")
WANDB_MODES = ("disabled", "offline", "online")


def positive(owner: object, *names: str) -> None:
    for name in names:
        if getattr(owner, name) <= 0:
            raise ValueError(f"{name}={getattr(owner, name)} is invalid: use a positive number.")


def one_of(owner: object, name: str, options: tuple[str, ...]) -> None:
    if getattr(owner, name) not in options:
        raise ValueError(
            f"{name}={getattr(owner, name)!r} is invalid: use one of {', '.join(options)}."
        )


def check_cross_check(scorer: str | None, phase_scorer: str) -> None:
    if scorer is None:
        return
    check_phase_scorer("cross_check_scorer", scorer)
    if scorer == phase_scorer:
        raise ValueError(
            f"cross_check_scorer={scorer!r} is the phase_scorer too: name another scorer, or "
            "leave cross_check_scorer out to skip the cross-check."
        )


def finite_numbers(name: str, values: tuple) -> None:
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError(f"{name} contains {value!r}: use finite numbers.")


@dataclass(frozen=True)
class AttributionConfig:
    """Settings of the onset attribution (see `attribution.gradients`)."""

    method: str = "attribution_patching"
    """"attribution_patching" (gradient times activation) or "integrated_gradients"."""
    ig_steps: int = 16
    """Steps of the integrated-gradients path."""
    target: str = "onset_logprob"
    """"onset_logprob" (the first n_target_tokens onset tokens) or "phase_logprob" (the phase's
    tokens, the detector's phase as a differentiable target)."""
    n_target_tokens: int = 3
    onset_groups: tuple[str, ...] = ("harmful",)
    """Prompt groups whose onsets are attributed."""
    select_by: str = "specific_attribution"
    """Ranking that picks the clamped features: "attribution", "specific_attribution",
    "activation_difference" or "harmful_specific". "specific_attribution" keeps the attribution
    order but only features more active at onsets than at matched control positions, so
    features that fire on every prompt are left out. "harmful_specific" ranks features by
    their mean activation on harmful minus benign prompts at `steering.direction_position` of
    the refusal direction's prompts, the position just before most onsets."""
    n_top: int = 50
    """Features listed with bootstrap intervals."""
    n_bootstrap: int = 1000

    def __post_init__(self) -> None:
        one_of(self, "method", METHODS)
        one_of(self, "target", TARGETS)
        one_of(self, "select_by", SELECTIONS)
        positive(self, "ig_steps", "n_target_tokens", "n_top", "n_bootstrap")
        for group in self.onset_groups:
            if group not in GROUPS:
                raise ValueError(
                    f"onset_groups contains {group!r}: use groups from {', '.join(GROUPS)}."
                )
        if not self.onset_groups:
            raise ValueError("onset_groups is empty: name at least one group, such as harmful.")


@dataclass(frozen=True)
class SteeringConfig:
    """The interventions of the onset experiments and their controls."""

    n_features: int = 10
    """Top-ranked onset features that are clamped."""
    features: tuple[int, ...] = ()
    """Feature ids to clamp instead of the ranking's top n_features."""
    suppress_positions: str = "all"
    """Positions of the suppression clamps: all, prompt, generated, response, last_prompt, or
    onset_window (around each prompt's baseline onset)."""
    onset_window: tuple[int, int] = (-4, 0)
    """Response-token offsets from the onset, both included, for suppress_positions=onset_window."""
    trigger_positions: str = "last_prompt"
    """Positions of the triggering clamps and of the refusal-direction addition. Holding features high at
    every generated position drives generation into repeating one token."""
    trigger_multiple: float = 1.0
    """Triggering clamps each feature to this multiple of its maximum activation on the benign
    baseline prompts."""
    dose_multiples: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    """Clamp strengths of the dose-response curve, as multiples of the maximum activation."""
    suppression_sizes: tuple[int, ...] = ()
    """Sizes of the suppression curve. For each size s, the top s onset features (picked as
    attribution.select_by picks the clamped ones) are clamped to 0 on harmful prompts, beside
    one random set of s features. When the clamped features come from this run's ranking, the
    curve also contains n_features, with the first of the n_random_controls sets. Empty skips
    the curve."""
    n_random_controls: int = 3
    """Random feature sets of the same size, clamped the same way. They are drawn from the
    features active where the clamp acts: on harmful prompts at the suppression positions, on
    benign prompts at the triggering positions."""
    refusal_direction: bool = True
    """Also compute the difference-of-means refusal direction and intervene with it."""
    benign_features: bool = False
    """Also clamp high, on harmful prompts, the n_features SAE features most specific to benign
    requests: the largest differences of mean activation, benign minus harmful, at
    direction_position of the refusal direction's prompts. They are clamped at
    trigger_positions to trigger_multiple times their maximum on those benign prompts, and to 0
    there on benign prompts. Each clamp has n_random_controls random sets beside it, matched to
    the chosen features by mean activation on those benign prompts."""
    direction_position: int = -1
    """Prompt position (from the end) where the refusal direction's means are read."""
    direction_prompts_per_group: int = 100
    """Training-split harmful and benign prompts the refusal direction is computed on."""
    direction_coefficients: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    """Multiples of the refusal direction added on benign prompts (its dose-response curve)."""
    n_side_effect_texts: int = 40
    """Benign baseline transcripts on which CE loss and KL under suppression are measured."""
    temperature: float = 0.0
    """0 decodes greedily; above 0 samples, once per seed."""
    seeds: tuple[int, ...] = (0,)
    """Sampling seeds; intervals run over prompts and seeds."""
    n_bootstrap: int = 1000

    def __post_init__(self) -> None:
        positive(self, "n_features", "direction_prompts_per_group", "n_bootstrap")
        one_of(self, "suppress_positions", SUPPRESS_POSITIONS)
        one_of(self, "trigger_positions", POSITION_NAMES)
        finite_numbers("dose_multiples", self.dose_multiples)
        if any(m < 0 for m in self.dose_multiples):
            raise ValueError(
                f"dose_multiples={list(self.dose_multiples)} is invalid: clamp strengths are "
                "multiples of the maximum activation, so use values of 0 or more."
            )
        finite_numbers("direction_coefficients", self.direction_coefficients)
        if not math.isfinite(self.trigger_multiple) or self.trigger_multiple <= 0:
            raise ValueError(
                f"trigger_multiple={self.trigger_multiple} is invalid: use a positive number."
            )
        sizes = self.suppression_sizes
        if any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in sizes) or len(
            set(sizes)
        ) != len(sizes):
            raise ValueError(
                f"suppression_sizes={list(sizes)} is invalid: give distinct positive whole "
                "numbers of features, such as [5, 20, 50]."
            )
        if any(f < 0 for f in self.features):
            raise ValueError(f"features={list(self.features)} is invalid: ids are 0 or more.")
        if len(set(self.features)) != len(self.features):
            raise ValueError(
                f"features={list(self.features)} is invalid: it repeats a feature id; "
                "list each feature once."
            )
        if len(self.onset_window) != 2 or self.onset_window[0] > self.onset_window[1]:
            raise ValueError(
                f"onset_window={list(self.onset_window)} is invalid: give [start, end], start <= end."
            )
        if self.n_random_controls < 0 or self.n_side_effect_texts < 0:
            raise ValueError(
                f"n_random_controls={self.n_random_controls} and n_side_effect_texts="
                f"{self.n_side_effect_texts} are invalid: use 0 or more."
            )
        if self.direction_position >= 0:
            raise ValueError(
                f"direction_position={self.direction_position} is invalid: count from the end, "
                "-1 is the last prompt token."
            )
        finite_numbers("temperature", (self.temperature,))
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature} is invalid: use 0 or more.")
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one seed.")
        if self.temperature == 0 and len(self.seeds) > 1:
            raise ValueError(
                f"seeds={list(self.seeds)} with temperature=0: greedy decoding gives every seed "
                "the same tokens. Set a temperature above 0 or keep one seed."
            )


@dataclass(frozen=True)
class ExperimentConfig:
    """Onset attribution and steering experiments: `safety-features attribute` and `steer`."""

    model: str = "organism:chat"
    """Model name or checkpoint folder, as `load_model` takes it."""
    sae_path: str = "checkpoints/saes/organism-chat-resid2"
    """SAE folder; a relative path is read from the working folder, then the repository."""
    concepts: str | None = None
    """Concept set YAML of the phase detector; None for configs/concepts/safety.yaml."""
    phase_scorer: str = "embedding"
    cross_check_scorer: str | None = None
    """A second membership scorer ("lexical", "embedding", "hybrid" or "classifier:DIR"). Every
    condition then also reports its safety-phase rate under it, because clamped generations
    can read unlike the text that the detector's thresholds were calibrated on."""
    seed: int = 0
    """Seed of the prompt sample and of the random-feature controls."""
    n_prompts_per_group: int = 40
    """Held-out prompts per group, when prompts_file is not given."""
    prompts_file: str | None = None
    """JSONL prompt suite, one {"prompt": ..., "group": ...} per line (groups as in the organism:
    harmful, benign, ...), instead of the organism's held-out prompts."""
    max_new_tokens: int = 48
    batch_size: int = 64
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    steering: SteeringConfig = field(default_factory=SteeringConfig)
    features_from: str | None = None
    """`steer` only: an `attribute` run folder whose ranking picks the features."""
    wandb_mode: str = "disabled"
    """Log the run to W&B: disabled, offline (saved in the run folder) or online."""
    wandb_project: str = "safety-features"

    def __post_init__(self) -> None:
        positive(self, "n_prompts_per_group", "max_new_tokens", "batch_size")
        check_phase_scorer("phase_scorer", self.phase_scorer)
        check_cross_check(self.cross_check_scorer, self.phase_scorer)
        one_of(self, "wandb_mode", WANDB_MODES)


@dataclass(frozen=True)
class RunConfig:
    """The main job: generate, detect onsets, get an SAE, attribute onsets, clamp features."""

    model: str = "organism:chat"
    """Model name or checkpoint folder, as `load_model` takes it."""
    seed: int = 0
    """Seed of the prompt sample, the random-feature controls and any SAE training."""
    n_prompts_per_group: int = 40
    """Held-out prompts per group (harmful, wrapped_harmful, discrimination, benign, alarming_benign)."""
    max_new_tokens: int = 48
    """Response length cap in tokens."""
    batch_size: int = 64
    """Prompts generated together in one left-padded batch."""
    phase_scorer: str = "embedding"
    """Membership scorer of the phase detector: "embedding", "lexical" or "hybrid" (calibrated
    thresholds from the concept set's thresholds file), or "classifier:DIR" for a classifier
    trained with `safety-features train-classifier` (its own thresholds)."""
    cross_check_scorer: str | None = None
    """A second membership scorer ("lexical", "embedding", "hybrid" or "classifier:DIR"). Every
    condition then also reports its safety-phase rate under it, because clamped generations
    can read unlike the text that the detector's thresholds were calibrated on."""
    concepts: str | None = None
    """Concept set YAML of the phase detector; None for configs/concepts/safety.yaml."""
    sae_path: str | None = "checkpoints/saes/organism-chat-resid2"
    """SAE folder to load; a relative path is read from the working folder, then the repository."""
    train_sae_if_missing: bool = True
    """Train an SAE with `sae_training` into the run folder when `sae_path` is empty or absent."""
    sae_training: SAETrainingConfig = field(default_factory=SAETrainingConfig)
    base_model: str | None = "organism:base"
    """The model before safety tuning, for the occurrence report's prefilling test and
    chat-base KL divergence; None skips both."""
    prefill_lengths: tuple[int, ...] = (0, 10, 20)
    """Compliant tokens forced at the start of the response in the occurrence report."""
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    steering: SteeringConfig = field(default_factory=SteeringConfig)

    def __post_init__(self) -> None:
        positive(self, "n_prompts_per_group", "max_new_tokens", "batch_size")
        check_phase_scorer("phase_scorer", self.phase_scorer)
        check_cross_check(self.cross_check_scorer, self.phase_scorer)
        if any(k < 0 for k in self.prefill_lengths):
            raise ValueError(
                f"prefill_lengths={list(self.prefill_lengths)} is invalid: lengths are 0 or more."
            )
