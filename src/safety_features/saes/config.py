"""Configuration of SAE training on a model's residual stream."""

from __future__ import annotations

from dataclasses import dataclass

ARCHITECTURES = ("standard", "topk", "batchtopk", "jumprelu")


@dataclass(frozen=True)
class SAETrainingConfig:
    """One SAE training run: where to read activations, which SAELens architecture, how long."""

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
    """Adam learning rate."""
    training_tokens: int = 1_000_000
    """Activation vectors seen in training, counting repeats over epochs."""
    batch_size: int = 512
    """Activation vectors per training step."""
    n_prompts_per_group: int = 300
    """Training-split prompts per prompt group whose transcripts provide activations."""
    max_new_tokens: int = 48
    """Response length cap when generating the transcripts."""
    temperature: float = 0.7
    """Sampling temperature of the transcripts, so a prompt's responses vary."""
    assistant_only: bool = False
    """Train on response tokens only, skipping prompt and template tokens."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture={self.architecture!r} is invalid: use one of {', '.join(ARCHITECTURES)}."
            )
        for name in (
            "d_sae",
            "k",
            "training_tokens",
            "batch_size",
            "n_prompts_per_group",
            "max_new_tokens",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"{name}={getattr(self, name)} is invalid: use a positive integer."
                )
        if not self.learning_rate > 0 or not self.l1_coefficient >= 0:
            raise ValueError(
                f"learning_rate={self.learning_rate} and l1_coefficient={self.l1_coefficient} are invalid: "
                "the learning rate must be positive and the coefficient non-negative."
            )
        if not self.temperature > 0:
            raise ValueError(
                f"temperature={self.temperature} is invalid: transcripts are sampled, use a positive value."
            )
