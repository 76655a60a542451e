"""The refusal direction: the difference of means between harmful and benign prompts.

Following Arditi et al. (2024), with mean activations at one hook and one prompt position,

    r = mean_{harmful} x  -  mean_{benign} x

Ablating it projects r_hat out of the residual stream at every layer (`AblateDirection` at all
`residual_hooks`); adding it adds c r at the hook it was read from (`AddDirection`).

To compare it with SAE features on the same footing, r is decomposed onto the decoder rows:
the cosine similarity of r with each row, and a greedy matching-pursuit fit
r ~ sum_{j <= k} a_j W_dec[i_j] whose explained share 1 - |residual|^2 / |r|^2 says how much of
the direction k features carry.

`split_gap` asks which features hold the prompts apart along r. It splits the gap between the
harmful and the benign mean projection into one part per feature, from how its mean activation
differs between the two groups, plus the part of the SAE error term.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float

from safety_features.models.generation import encode_prompts, left_pad
from safety_features.models.loading import LoadedModel
from safety_features.saes.activations import check_hook_name, layer_of_hook
from safety_features.steering.interventions import (
    AblateDirection,
    AddDirection,
    decoder_change_rows,
    residual_hooks,
)


@dataclass(frozen=True)
class RefusalDirection:
    direction: Float[torch.Tensor, " d_model"]
    hook_name: str
    position: int
    """Prompt position the means are read at, counted from the end (-1: the last)."""
    n_harmful: int
    n_benign: int
    harmful_projection: float
    """Mean projection of the harmful prompts' activations on the unit direction."""
    benign_projection: float
    """Mean projection of the benign prompts' activations on the unit direction. Ablation sets
    every projection to 0, so it can turn refusals into compliance only where 0 lies on the
    benign side of the two means."""

    def ablation(self, loaded: LoadedModel, positions="all") -> AblateDirection:
        return AblateDirection(
            direction=self.direction, hooks=residual_hooks(loaded), positions=positions
        )

    def addition(self, coefficient: float, positions="all") -> AddDirection:
        return AddDirection(
            direction=self.direction,
            hook_name=self.hook_name,
            coefficient=coefficient,
            positions=positions,
        )


@torch.no_grad()
def prompt_activations(
    loaded: LoadedModel, hook_name: str, prompts: Sequence[str], position: int, batch_size: int = 32
) -> Float[torch.Tensor, "prompts d_model"]:
    """Activation at `hook_name` at prompt position `position` (from the end) of each prompt."""
    layer = layer_of_hook(hook_name)
    stop_at = None if layer is None else layer + 1
    encoded = encode_prompts(loaded, prompts)
    for ids in encoded:
        if -position > len(ids):
            raise ValueError(
                f"position={position} is outside a prompt of {len(ids)} tokens: use a "
                "position closer to the end, such as -1."
            )
    pad_id = loaded.tokenizer.pad_token_id or 0
    rows = []
    for start in range(0, len(encoded), batch_size):
        # Left padding puts every prompt's end at the same place, so position counts alike.
        tokens, mask = left_pad(encoded[start : start + batch_size], pad_id)
        device = loaded.model.cfg.device
        _, cache = loaded.model.run_with_cache(
            tokens.to(device),
            attention_mask=mask.to(device),
            names_filter=hook_name,
            stop_at_layer=stop_at,
        )
        rows.append(cache[hook_name][:, position].float().cpu())
    return torch.cat(rows)


def refusal_direction(
    loaded: LoadedModel,
    hook_name: str,
    harmful: Sequence[str],
    benign: Sequence[str],
    position: int = -1,
) -> RefusalDirection:
    """Difference of mean activations between harmful and benign prompts (see module docstring)."""
    direction, _, _ = refusal_direction_with_activations(
        loaded, hook_name, harmful, benign, position
    )
    return direction


def refusal_direction_with_activations(
    loaded: LoadedModel,
    hook_name: str,
    harmful: Sequence[str],
    benign: Sequence[str],
    position: int = -1,
) -> tuple[RefusalDirection, torch.Tensor, torch.Tensor]:
    """Compute `refusal_direction` and also return the harmful and benign activations it was
    computed from, one row per prompt, for analyses such as `split_gap`."""
    check_hook_name(loaded, hook_name)
    if not harmful or not benign:
        raise ValueError(
            f"The refusal direction needs harmful and benign prompts; got {len(harmful)} and "
            f"{len(benign)}."
        )
    if position >= 0:
        raise ValueError(f"position={position} is invalid: count from the end (-1 is the last).")
    on_harmful = prompt_activations(loaded, hook_name, harmful, position)
    on_benign = prompt_activations(loaded, hook_name, benign, position)
    difference = on_harmful.mean(dim=0) - on_benign.mean(dim=0)
    unit = difference / difference.norm().clamp_min(1e-12)
    direction = RefusalDirection(
        difference,
        hook_name,
        position,
        len(harmful),
        len(benign),
        harmful_projection=float((on_harmful @ unit).mean()),
        benign_projection=float((on_benign @ unit).mean()),
    )
    return direction, on_harmful, on_benign


@dataclass(frozen=True)
class Decomposition:
    cosine_top: list[dict]
    """Features whose decoder rows are most aligned with r: feature and cosine."""
    pursuit: list[dict]
    """Matching-pursuit atoms in the order chosen: feature and coefficient."""
    explained_share: list[float]
    """1 - |residual|^2 / |r|^2 after each atom."""

    def to_dict(self) -> dict:
        return {
            "cosine_top": self.cosine_top,
            "matching_pursuit": self.pursuit,
            "explained_share": self.explained_share,
        }


def decompose(
    direction: Float[torch.Tensor, " d_model"],
    W_dec: Float[torch.Tensor, "d_sae d_model"],
    k: int = 10,
) -> Decomposition:
    """Cosines of r with every decoder row, and a k-atom matching pursuit of r onto them."""
    rows = W_dec.detach().float().cpu()
    units = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    target = direction.detach().float().cpu()
    cosines = units @ (target / target.norm())
    order = torch.argsort(cosines, descending=True)[:k]
    cosine_top = [{"feature": int(i), "cosine": float(cosines[i])} for i in order]

    residual = target.clone()
    total = float(target.norm() ** 2)
    pursuit, explained = [], []
    for _ in range(k):
        projections = units @ residual
        best = int(projections.abs().argmax())
        coefficient = float(projections[best])
        residual = residual - coefficient * units[best]
        pursuit.append({"feature": best, "coefficient": coefficient / float(rows[best].norm())})
        explained.append(1 - float(residual.norm() ** 2) / total)
    return Decomposition(cosine_top, pursuit, explained)


@dataclass(frozen=True)
class GapSplit:
    """The gap between the harmful and the benign mean projection on the unit direction r_hat,
    split by what carries it in an SAE at the direction's hook.

    With mean activations f_h and f_b on harmful and benign prompts, and D_i the change one unit
    of feature i makes to the reconstruction, feature i carries (f_h,i - f_b,i) (D_i . r_hat).
    Features that fire more on harmful prompts carry `raised`, features that fire less carry
    `lowered`, and the SAE error term carries `error`. The three add up to `gap`. Zeroing a
    feature removes what it adds on harmful prompts, and it cannot give back what the falling
    features lost. When `lowered` dominates, harmful requests show up mostly as benign features
    turned down. The zeroed projections measure how far zeroing moves harmful prompts.
    """

    gap: float
    raised: float
    lowered: float
    error: float
    n_raised: int
    """Features more active on harmful prompts than on benign ones."""
    raised_features: list[int]
    """Those features, the largest part first."""
    top_raised: list[dict]
    """The features with the largest parts among those that rise: feature and part."""
    top_lowered: list[dict]
    """The features with the largest parts among those that fall: feature and part."""
    zeroed: list[int]
    harmful_projection_zeroed: float
    """Mean projection of the harmful prompts with the `zeroed` features set to 0, the SAE
    error term kept (what `ClampFeatures` to 0 does at this position)."""
    harmful_projection_all_raised_zeroed: float
    """The same with every feature that rises on harmful prompts set to 0."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@torch.no_grad()
def decoder_projections(
    sae, unit: Float[torch.Tensor, " d_model"], chunk: int = 1024
) -> Float[torch.Tensor, " d_sae"] | None:
    """Project each feature's change to the reconstruction, decode(e_i) - decode(0), onto
    `unit`. Return None when decode is not affine."""
    d_sae = sae.cfg.d_sae
    parts = []
    for start in range(0, d_sae, chunk):
        rows = decoder_change_rows(sae, range(start, min(start + chunk, d_sae)))
        if rows is None:
            return None
        parts.append(rows.float().cpu() @ unit)
    return torch.cat(parts)


@torch.no_grad()
def split_gap(
    direction: RefusalDirection,
    sae,
    on_harmful: Float[torch.Tensor, "harmful d_model"],
    on_benign: Float[torch.Tensor, "benign d_model"],
    zeroed: Sequence[int] = (),
    k: int = 10,
) -> GapSplit | None:
    """Split the harmful-minus-benign gap along `direction` over the SAE's features (see
    GapSplit), from activations at the direction's hook and position. Return None when the
    SAE's decode is not affine (activation normalisation), since parts per feature are then
    undefined."""
    unit = direction.direction.float().cpu()
    unit = unit / unit.norm().clamp_min(1e-12)
    projections = decoder_projections(sae, unit)
    if projections is None:
        return None
    dtype, device = sae.W_dec.dtype, sae.W_dec.device
    features_h = sae.encode(on_harmful.to(device=device, dtype=dtype)).float().cpu()
    features_b = sae.encode(on_benign.to(device=device, dtype=dtype)).float().cpu()
    change = features_h.mean(dim=0) - features_b.mean(dim=0)
    parts = change * projections
    gap = float((on_harmful.float().cpu().mean(dim=0) - on_benign.float().cpu().mean(dim=0)) @ unit)
    rises, falls = change > 0, change < 0
    raised, lowered = float(parts[rises].sum()), float(parts[falls].sum())
    rising_ids = torch.nonzero(rises).flatten()
    rising_ids = rising_ids[torch.argsort(parts[rising_ids], descending=True)]

    def largest(mask: torch.Tensor) -> list[dict]:
        ids = torch.nonzero(mask).flatten()
        order = ids[torch.argsort(parts[ids], descending=True)][:k]
        return [{"feature": int(i), "part": float(parts[i])} for i in order]

    harmful = on_harmful.float().cpu() @ unit
    ids = list(zeroed)
    removed = features_h[:, ids] @ projections[ids] if ids else torch.zeros_like(harmful)
    removed_all = features_h[:, rises] @ projections[rises]
    return GapSplit(
        gap=gap,
        raised=raised,
        lowered=lowered,
        error=gap - raised - lowered,
        n_raised=int(rises.sum()),
        raised_features=[int(i) for i in rising_ids],
        top_raised=largest(rises),
        top_lowered=largest(falls),
        zeroed=ids,
        harmful_projection_zeroed=float((harmful - removed).mean()),
        harmful_projection_all_raised_zeroed=float((harmful - removed_all).mean()),
    )
