"""Configuration of the main job, `safety-features run`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from safety_features.saes.config import SAETrainingConfig
from safety_features.steering.interventions import CLAMP_POSITIONS


@dataclass(frozen=True)
class RunConfig:
    """The main job: generate, detect onsets, get an SAE, rank onset features, clamp them."""

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
    thresholds from the concept set's thresholds file)."""
    concepts: str | None = None
    """Concept set YAML of the phase detector; None for configs/concepts/safety.yaml."""
    sae_path: str | None = "checkpoints/saes/organism-chat-resid2"
    """SAE folder to load; a relative path is read from the working folder, then the repository."""
    train_sae_if_missing: bool = True
    """Train an SAE with `sae_training` into the run folder when `sae_path` is empty or absent."""
    sae_training: SAETrainingConfig = field(default_factory=SAETrainingConfig)
    n_clamped_features: int = 8
    """Top onset features clamped in the suppression and triggering conditions."""
    trigger_multiple: float = 1.0
    """Triggering clamps each feature to this multiple of its maximum activation in the baseline."""
    suppress_positions: str = "all"
    """Positions of the suppression clamps: "all", "response" (the last prompt position and every
    generated position) or "last_prompt"."""
    trigger_positions: str = "last_prompt"
    """Positions of the triggering clamps, with the same options. Holding features high at every
    generated position drives generation into repeating one token."""
    n_random_controls: int = 3
    """Random feature sets of the same size, each clamped the same way, as controls."""

    def __post_init__(self) -> None:
        for name in ("n_prompts_per_group", "max_new_tokens", "batch_size", "n_clamped_features"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"{name}={getattr(self, name)} is invalid: use a positive integer."
                )
        if self.n_random_controls < 0:
            raise ValueError(
                f"n_random_controls={self.n_random_controls} is invalid: use 0 or more."
            )
        for name in ("suppress_positions", "trigger_positions"):
            if getattr(self, name) not in CLAMP_POSITIONS:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is invalid: use one of {', '.join(CLAMP_POSITIONS)}."
                )
        if self.phase_scorer not in ("embedding", "lexical", "hybrid"):
            raise ValueError(
                f"phase_scorer={self.phase_scorer!r} is invalid: use embedding, lexical or hybrid."
            )
        if not math.isfinite(self.trigger_multiple) or self.trigger_multiple <= 0:
            raise ValueError(
                f"trigger_multiple={self.trigger_multiple} is invalid: use a positive finite number."
            )
