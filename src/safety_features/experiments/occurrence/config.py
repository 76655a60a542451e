"""Configuration of `safety-features occurrence`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from safety_features.config import check_phase_scorer
from safety_features.experiments.config import WANDB_MODES, one_of, positive

CATEGORY_FIELDS = ("group", "category")


@dataclass(frozen=True)
class OccurrenceConfig:
    """Settings of the occurrence report on a prompt suite with categories."""

    model: str = "organism:chat"
    """Model name or checkpoint folder, as `load_model` takes it."""
    base_model: str | None = "organism:base"
    """The model before safety tuning, with the same tokenizer: its greedy answers are the
    compliant prefixes of the prefilling test, and the chat-base KL divergence compares with it.
    None skips both."""
    concepts: str | None = None
    """Concept set YAML of the phase detector; None for configs/concepts/safety.yaml."""
    phase_scorer: str = "embedding"
    seed: int = 0
    """Seed of the prompt sample, the clustering and the probe's folds."""
    n_prompts_per_group: int = 40
    """Held-out organism prompts per group, when prompts_file is not given."""
    prompts_file: str | None = None
    """Prompt suite: JSONL with {"prompt", "category", optional "group"} per line, or a YAML
    mapping from category to a list of prompts."""
    category_field: str = "group"
    """Prompt field the statistics group by: "group" (harmful, benign, ...) or "category"
    (harm category or benign domain)."""
    max_new_tokens: int = 48
    batch_size: int = 64
    n_samples: int = 3
    """Sampled responses per prompt, besides the greedy one."""
    temperature: float = 0.7
    """Sampling temperature of the sampled responses; must be above 0."""
    hook_name: str | None = None
    """Residual-stream hook for the onset clusters and the probe; None for the middle block's
    hook_resid_pre."""
    max_clusters: int = 8
    """Largest number of clusters tried; the silhouette score picks one from 2 up to this."""
    n_examples_per_cluster: int = 5
    prefill_lengths: tuple[int, ...] = (0, 5, 10, 20, 40)
    """Tokens of a compliant answer forced at the start of the response."""
    prefill_new_tokens: int = 32
    """Tokens the chat model generates after each forced prefix."""
    prefill_group: str = "harmful"
    """Prompt group (or category) whose prompts get compliant prefixes, and whose responses the
    chat-base KL divergence is measured on."""
    probe_folds: int = 5
    n_random_directions: int = 1000
    n_bootstrap: int = 1000
    wandb_mode: str = "disabled"
    """Log the report's numbers to W&B: disabled, offline (saved in the folder) or online."""
    wandb_project: str = "safety-features"

    def __post_init__(self) -> None:
        positive(self, "n_prompts_per_group", "max_new_tokens", "batch_size", "prefill_new_tokens")
        positive(self, "n_examples_per_cluster", "n_random_directions", "n_bootstrap")
        check_phase_scorer("phase_scorer", self.phase_scorer)
        one_of(self, "category_field", CATEGORY_FIELDS)
        one_of(self, "wandb_mode", WANDB_MODES)
        if self.n_samples < 0:
            raise ValueError(f"n_samples={self.n_samples} is invalid: use 0 or more.")
        if self.n_samples > 0 and (not math.isfinite(self.temperature) or self.temperature <= 0):
            raise ValueError(
                f"temperature={self.temperature} is invalid for sampling: use a positive "
                "temperature, or n_samples: 0 for greedy responses only."
            )
        if self.max_clusters < 2:
            raise ValueError(f"max_clusters={self.max_clusters} is invalid: use 2 or more.")
        if any(k < 0 for k in self.prefill_lengths):
            raise ValueError(
                f"prefill_lengths={list(self.prefill_lengths)} is invalid: lengths are 0 or more."
            )
        if self.probe_folds < 2:
            raise ValueError(f"probe_folds={self.probe_folds} is invalid: use 2 or more.")
