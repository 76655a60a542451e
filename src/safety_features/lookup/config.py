"""Configuration of a feature index (`safety-features build-index`)."""

from __future__ import annotations

from dataclasses import dataclass

from safety_features.config import check_phase_scorer
from safety_features.experiments.config import positive


@dataclass(frozen=True)
class IndexConfig:
    """Sources of a feature index, and the amount of data it keeps per feature."""

    sae_path: str = "checkpoints/saes/organism-chat-resid2"
    """SAE folder; a relative path is read from the working folder, then the repository."""
    model: str | None = None
    """Model name or folder; None for the model the SAE records in its metadata."""
    prompts_file: str | None = None
    """JSONL corpus prompts ({"prompt": ...} per line); None for organism training prompts."""
    n_prompts_per_group: int = 200
    """Organism training-split prompts per group, when prompts_file is not given."""
    seed: int = 1
    max_new_tokens: int = 48
    batch_size: int = 64
    concepts: str | None = None
    """Concept set of the phase detector; None for configs/concepts/safety.yaml."""
    phase_scorer: str = "embedding"
    onset_horizon: int = 5
    """k of "an onset within the next k tokens", the onset enrichment label."""
    n_top_contexts: int = 10
    n_quantile_samples: int = 5
    """Contexts sampled at evenly spaced quantiles of each feature's nonzero activations."""
    sample_pool: int = 64
    """Nonzero activations kept at random per feature, from which the quantile samples come."""
    context_before: int = 12
    context_after: int = 4
    chunk_tokens: int = 2048
    """Tokens encoded by the SAE at a time: the memory bound of the build."""

    def __post_init__(self) -> None:
        positive(self, "n_prompts_per_group", "max_new_tokens", "batch_size", "onset_horizon")
        positive(self, "n_top_contexts", "n_quantile_samples", "sample_pool", "chunk_tokens")
        check_phase_scorer("phase_scorer", self.phase_scorer)
        if self.context_before < 0 or self.context_after < 0:
            raise ValueError(
                f"context_before={self.context_before} and context_after={self.context_after} "
                "are invalid: use 0 or more."
            )
        if self.n_quantile_samples > self.sample_pool:
            raise ValueError(
                f"n_quantile_samples={self.n_quantile_samples} is invalid: it cannot exceed "
                f"sample_pool={self.sample_pool}."
            )
