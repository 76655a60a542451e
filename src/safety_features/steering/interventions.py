"""SAE-feature interventions as TransformerLens forward hooks; every intervention is built here.

Clamping sets chosen features to fixed values and adds back the SAE's error term, so the
hooked activation changes only along the clamped features' decoder directions:

    f = encode(x),   e = x - decode(f),   f'_i = v_i for i in clamped ids,   x' = decode(f') + e

With ``positions="response"`` the clamp acts only where the response is produced: the last
prompt position, which predicts the first response token, and every generated position. With
``positions="last_prompt"`` it acts on the last prompt position alone. Both rely on the prompt
pass of `generate` being left-padded, so its last position is the last prompt token of every
row, and on each cached step feeding a single token.

The hooks returned here are registered and removed by the caller's `model.hooks(...)` context
(see `safety_features.models.generation.generate`), which removes them on exit, also after an
exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float

from safety_features.saes.loading import LoadedSAE


@dataclass(frozen=True)
class FeatureClamp:
    """Features to clamp and the value each one is clamped to."""

    feature_ids: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.feature_ids) != len(self.values):
            raise ValueError(
                f"FeatureClamp has {len(self.feature_ids)} feature ids but {len(self.values)} values: "
                "give one value per feature."
            )
        for value in self.values:
            if not math.isfinite(value):
                raise ValueError(f"Clamp value {value} is invalid: use a finite number.")


def check_feature_ids(feature_ids: Sequence[int], d_sae: int) -> None:
    for feature in feature_ids:
        if not 0 <= feature < d_sae:
            raise ValueError(
                f"Feature id {feature} is out of range: this SAE has features 0 to {d_sae - 1}."
            )


ClampPositions = Literal["all", "response", "last_prompt"]
CLAMP_POSITIONS = ("all", "response", "last_prompt")


def clamp_hook(
    loaded_sae: LoadedSAE, clamp: FeatureClamp, positions: ClampPositions = "all"
) -> tuple[str, Callable]:
    """Build a (hook_name, function) pair that clamps features at the chosen positions."""
    if positions not in CLAMP_POSITIONS:
        raise ValueError(
            f"positions={positions!r} is invalid: use one of {', '.join(CLAMP_POSITIONS)}."
        )
    sae = loaded_sae.sae
    check_feature_ids(clamp.feature_ids, sae.cfg.d_sae)
    ids = torch.tensor(clamp.feature_ids, dtype=torch.long, device=sae.W_dec.device)
    values = torch.tensor(clamp.values, dtype=sae.W_dec.dtype, device=sae.W_dec.device)

    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        # NOTE: a prompt pass of a single token reads as a cached step. Chat-formatted prompts
        # always have more, but a caller feeding one-token prompts gets "response" semantics.
        is_prompt_pass = activation.shape[1] > 1
        if positions == "last_prompt" and not is_prompt_pass:
            return activation
        if positions != "all" and is_prompt_pass:
            clamped = activation.clone()
            clamped[:, -1:] = clamp_all(activation[:, -1:])
            return clamped
        return clamp_all(activation)

    def clamp_all(activation: torch.Tensor) -> torch.Tensor:
        features = sae.encode(activation)
        error = activation - sae.decode(features)
        features[..., ids] = values
        return sae.decode(features) + error

    return loaded_sae.hook_name, apply


def splice_hook(
    sae, hook_name: str, keep: torch.Tensor | None = None, leave_alone: torch.Tensor | None = None
) -> tuple[str, Callable]:
    """Build a hook that replaces activations by the SAE's reconstruction decode(encode(x)).

    With `keep` (a [batch, pos] bool mask matching the hooked forward pass), only those
    positions are replaced. With `leave_alone` (a [d_in] vector, such as the BOS position's
    activation), positions whose activation equals it are kept as they are, which works
    during generation where padding moves the BOS position from row to row.
    """

    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        replace = torch.ones(activation.shape[:2], dtype=torch.bool, device=activation.device)
        if keep is not None:
            replace &= keep.to(activation.device)
        if leave_alone is not None:
            same = torch.isclose(activation, leave_alone.to(activation), rtol=1e-4, atol=1e-4)
            replace &= ~same.all(dim=-1)
        reconstruction = sae.decode(sae.encode(activation))
        return torch.where(replace[..., None], reconstruction.to(activation.dtype), activation)

    return hook_name, apply


def zero_ablation_hook(hook_name: str, keep: torch.Tensor) -> tuple[str, Callable]:
    """Build a hook that sets the activations at the `keep` positions ([batch, pos]) to zero."""

    def apply(activation: Float[torch.Tensor, "batch pos d_in"], hook) -> torch.Tensor:
        return activation.masked_fill(keep.to(activation.device)[..., None], 0.0)

    return hook_name, apply
