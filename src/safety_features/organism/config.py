"""Configuration of an organism build: model shape, corpus size and the two training stages."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelShape:
    """GPT-2 hyperparameters of the organism."""

    d_model: int = 128
    """Width of the residual stream."""
    n_layers: int = 4
    """Number of transformer blocks."""
    n_heads: int = 4
    """Attention heads per block; must divide d_model."""
    d_mlp: int = 512
    """Hidden width of each MLP."""
    n_ctx: int = 256
    """Context window in tokens (prompt plus response)."""
    vocab_size: int = 4096
    """Size of the byte-level BPE vocabulary, special tokens included."""

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "d_mlp", "n_ctx", "vocab_size"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"model.{name}={getattr(self, name)} is invalid: use a positive integer."
                )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.n_heads={self.n_heads} does not divide model.d_model={self.d_model}: "
                "choose n_heads so that d_model / n_heads is a whole number."
            )


@dataclass(frozen=True)
class StageConfig:
    """One training stage: pretraining on documents, or safety tuning on chat examples."""

    steps: int
    """Optimizer steps."""
    batch_size: int
    """Sequences per step."""
    learning_rate: float
    """Peak AdamW learning rate, reached after warmup and decayed by cosine to 10% of it."""
    warmup_steps: int = 50
    """Linear warmup steps."""
    weight_decay: float = 0.1
    """AdamW weight decay on matrices (not on biases, LayerNorm or embeddings)."""

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0:
            raise ValueError(
                f"steps={self.steps} and batch_size={self.batch_size} are invalid: both must be positive."
            )
        if not self.learning_rate > 0:
            raise ValueError(
                f"learning_rate={self.learning_rate} is invalid: use a positive number."
            )


@dataclass(frozen=True)
class OrganismConfig:
    """Everything that determines a built organism, given the same software and thread count."""

    seed: int = 0
    """Seed of the corpus generator, the weight initialisation and the data order."""
    n_pretraining: int = 30000
    """Pretraining documents the corpus generator writes."""
    n_chat: int = 12000
    """Safety-tuning chat examples the corpus generator writes."""
    model: ModelShape = field(default_factory=ModelShape)
    pretraining: StageConfig = field(
        default_factory=lambda: StageConfig(steps=1500, batch_size=16, learning_rate=3e-3)
    )
    chat: StageConfig = field(
        default_factory=lambda: StageConfig(steps=800, batch_size=32, learning_rate=1e-3)
    )
    chat_pretraining_mix: float = 0.25
    """Share of each safety-tuning batch filled with pretraining blocks, and the weight of their
    loss, so tuning keeps what pretraining taught about the held-out slot fillers. The shipped
    organism sets 0.6 in configs/organism.yaml. This default keeps the tiny test organism as built."""
    chat_group_weights: dict[str, float] = field(default_factory=dict, hash=False)
    """Sampling weight of each prompt group's chat examples during safety tuning, for example
    {"benign": 1.5}; a group left out weighs 1. With every weight 1, batches draw the examples
    uniformly, as builds without this key did."""

    def __post_init__(self) -> None:
        if self.n_pretraining <= 0 or self.n_chat <= 0:
            raise ValueError(
                f"n_pretraining={self.n_pretraining} and n_chat={self.n_chat} are invalid: both must be positive."
            )
        if not 0 <= self.chat_pretraining_mix < 1:
            raise ValueError(
                f"chat_pretraining_mix={self.chat_pretraining_mix} is invalid: use a share in [0, 1)."
            )
        from safety_features.organism.corpus import GROUPS

        if not isinstance(self.chat_group_weights, dict):
            raise ValueError(
                f"chat_group_weights={self.chat_group_weights!r} is invalid: use a mapping of "
                f"prompt groups to weights."
            )
        for group, weight in self.chat_group_weights.items():
            if group not in GROUPS:
                raise ValueError(
                    f"chat_group_weights names an unknown group {group!r}: use one of "
                    f"{', '.join(GROUPS)}."
                )
            number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
            if not (number and 0 < _as_float(weight) < math.inf):
                raise ValueError(
                    f"chat_group_weights.{group}={weight!r} is invalid: use a positive, finite number."
                )


def _as_float(number: float) -> float:
    """`number` as a float; an integer too large for one becomes infinity."""
    try:
        return float(number)
    except OverflowError:
        return math.inf
