"""Configuration of SAE training on a model's residual stream: SAE, data, tracking."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from safety_features.config import check_phase_scorer

ARCHITECTURES = ("standard", "topk", "batchtopk", "jumprelu")
WANDB_MODES = ("offline", "online", "disabled")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_positive(owner: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(owner, name)
        if not value > 0:
            raise ValueError(f"{name}={value} is invalid: use a positive number.")


def _check_choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"{name}={value!r} is invalid: use one of {', '.join(options)}.")


@dataclass(frozen=True)
class ActivationDataConfig:
    """Transcripts that give the activations, and their cache on disk."""

    n_prompts_per_group: int = 300
    """Training-split prompts per prompt group; each gives one sampled transcript."""
    max_new_tokens: int = 48
    """Response length cap when generating the transcripts."""
    temperature: float = 0.7
    """Sampling temperature of the transcripts, so a prompt's responses vary."""
    assistant_only: bool = False
    """Keep response tokens only, skipping the prompt and its template tokens."""
    mask_template_tokens: bool = False
    """Skip the chat template's special tokens (user, assistant and end-of-turn tags)."""
    eval_fraction: float = 0.05
    """Share of the transcripts held out for evaluation (whole transcripts, never trained on)."""
    shard_size: int = 65_536
    """Activations per shard file in the cache."""
    buffer_shards: int = 4
    """Shards shuffled together in memory while training; bounds memory use."""
    cache_dir: str = "cache/activations"
    """Folder of activation caches, relative to the repository unless absolute. A cache is
    reused by every run with the same model weights, hook and data settings."""
    batch_size: int = 32
    """Transcripts per forward pass when generating and collecting activations."""

    def __post_init__(self) -> None:
        _check_positive(
            self, ("n_prompts_per_group", "max_new_tokens", "temperature", "shard_size")
        )
        _check_positive(self, ("buffer_shards", "batch_size"))
        if not 0 < self.eval_fraction < 1:
            raise ValueError(
                f"eval_fraction={self.eval_fraction} is invalid: use a share between 0 and 1."
            )


@dataclass(frozen=True)
class TrackingConfig:
    """Weights & Biases logging and the evaluations run during training."""

    wandb_mode: str = "offline"
    """offline (saved under the run's work folder, upload later with `wandb sync`), online,
    or disabled."""
    wandb_project: str = "safety-features"
    log_every: int = 20
    """Steps between logs of the training losses and sparsity."""
    eval_every: int = 500
    """Steps between evaluations on held-out data (explained variance, CE-loss score)."""
    ce_eval_transcripts: int = 32
    """Held-out transcripts on which the CE-loss score is measured."""
    safety_eval_prompts_per_group: int = 10
    """Held-out prompts per group for the safety-phase rate with the SAE spliced in; 0 skips it."""
    phase_scorer: str = "embedding"
    """Phase detector that marks safety-phase tokens for the safety metrics: embedding, lexical,
    hybrid, or classifier:DIR."""

    def __post_init__(self) -> None:
        _check_choice("wandb_mode", self.wandb_mode, WANDB_MODES)
        check_phase_scorer("phase_scorer", self.phase_scorer)
        _check_positive(self, ("log_every", "eval_every", "ce_eval_transcripts"))
        if self.safety_eval_prompts_per_group < 0:
            raise ValueError(
                f"safety_eval_prompts_per_group={self.safety_eval_prompts_per_group} is "
                "invalid: use 0 to skip the check, or a positive count."
            )


@dataclass(frozen=True)
class SAETrainingConfig:
    """One SAE training run: where to read activations, which SAELens architecture, how long."""

    run_name: str = "organism-chat-resid2"
    """Names the checkpoint folder (`checkpoints/saes/<run_name>`), the work folder
    (`runs/saes/<run_name>`) and the W&B run."""
    model: str = "organism:chat"
    """Model name or checkpoint folder, as `load_model` takes it."""
    hook_name: str = "blocks.2.hook_resid_pre"
    """TransformerLens hook whose activations the SAE reconstructs."""
    architecture: str = "topk"
    """SAELens training architecture: standard (ReLU with L1), topk, batchtopk or jumprelu."""
    d_sae: int = 1024
    """Number of features."""
    k: int = 16
    """Active features per token for topk and batchtopk."""
    l1_coefficient: float = 5.0
    """Sparsity penalty for standard (L1) and jumprelu (L0) SAEs."""
    learning_rate: float = 1e-3
    """Adam learning rate, reached after a warm-up of 5% of the steps."""
    lr_decay_fraction: float = 0.0
    """Share of the steps, at the end, over which the learning rate decays linearly to zero."""
    training_tokens: int = 1_000_000
    """Activation vectors seen in training, counting repeats over epochs."""
    batch_size: int = 512
    """Activation vectors per training step."""
    checkpoint_every: int = 500
    """Steps between resumable checkpoints in the work folder."""
    seed: int = 0
    data: ActivationDataConfig = field(default_factory=ActivationDataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self) -> None:
        if not RUN_NAME.match(self.run_name):
            raise ValueError(
                f"run_name={self.run_name!r} is invalid: use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit."
            )
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        _check_positive(self, ("d_sae", "k", "training_tokens", "batch_size", "checkpoint_every"))
        if not self.learning_rate > 0 or not self.l1_coefficient >= 0:
            raise ValueError(
                f"learning_rate={self.learning_rate} and l1_coefficient={self.l1_coefficient} are "
                "invalid: the learning rate must be positive and the coefficient non-negative."
            )
        if not 0 <= self.lr_decay_fraction < 1:
            raise ValueError(
                f"lr_decay_fraction={self.lr_decay_fraction} is invalid: use a share from 0 to "
                "below 1."
            )
        if self.training_tokens < self.batch_size:
            raise ValueError(
                f"training_tokens={self.training_tokens} is below batch_size={self.batch_size}: "
                "train on at least one batch."
            )

    @property
    def total_steps(self) -> int:
        return self.training_tokens // self.batch_size
