"""Reconstruction quality of an SAE on held-out activations."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class ReconstructionMetrics:
    explained_variance: float
    """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over the evaluation activations."""
    l0: float
    """Mean number of active features per activation."""
    dead_fraction: float
    """Share of features that never fire on the evaluation activations."""
    mse: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@torch.no_grad()
def reconstruction_metrics(
    sae, activations: torch.Tensor, batch_size: int = 4096
) -> ReconstructionMetrics:
    squared_error = 0.0
    active_total = 0.0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
    for start in range(0, len(activations), batch_size):
        x = activations[start : start + batch_size].to(sae.W_dec.device)
        features = sae.encode(x)
        squared_error += float(((sae.decode(features) - x) ** 2).sum())
        active = features > 0
        active_total += float(active.sum())
        fired |= active.any(dim=0).cpu()
    variance = float(((activations - activations.mean(dim=0)) ** 2).sum())
    return ReconstructionMetrics(
        explained_variance=1 - squared_error / variance,
        l0=active_total / len(activations),
        dead_fraction=1 - float(fired.float().mean()),
        mse=squared_error / activations.numel(),
    )
