"""Quality of an SAE: reconstruction, its cost to the model's loss, and its safety effects.

With x an activation, x_hat = decode(encode(x)) its reconstruction and f = encode(x):

    explained variance = 1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2
    l0                 = mean number of features with f_i > 0
    CE-loss score      = (CE_zero - CE_sae) / (CE_zero - CE_clean)

where CE is the model's next-token loss on held-out transcripts, clean, with x_hat spliced in
for x, and with x set to zero, at the positions the SAE was trained on. A score of 1 means
splicing costs nothing; 0 means it is as bad as deleting the activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Bool, Float

from safety_features.models.loading import LoadedModel
from safety_features.saes.cache import Transcript
from safety_features.steering.interventions import splice_hook, zero_ablation_hook


@dataclass(frozen=True)
class ReconstructionMetrics:
    explained_variance: float
    l0: float
    """Mean number of active features per activation."""
    dead_fraction: float
    """Share of features that never fire on the evaluation activations."""
    mse: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@torch.no_grad()
def reconstruction_metrics(
    sae, activations: Float[torch.Tensor, "n d_in"], batch_size: int = 4096
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


@dataclass(frozen=True)
class SafetyReconstruction:
    """Reconstruction on response tokens inside safety phases against all other tokens."""

    explained_variance_safety: float
    explained_variance_other: float
    mse_safety: float
    mse_other: float
    n_safety: int
    n_other: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def safety_reconstruction(
    sae,
    activations: Float[torch.Tensor, "n d_in"],
    in_safety_phase: Bool[torch.Tensor, " n"],
) -> SafetyReconstruction:
    """Explained variance and MSE on safety-phase rows and on the rest, each against its own mean.

    A subset with no rows gets NaN, so a missing comparison is never mistaken for a good one.
    """
    safety = _subset_metrics(sae, activations[in_safety_phase])
    other = _subset_metrics(sae, activations[~in_safety_phase])
    return SafetyReconstruction(
        explained_variance_safety=safety[0],
        explained_variance_other=other[0],
        mse_safety=safety[1],
        mse_other=other[1],
        n_safety=int(in_safety_phase.sum()),
        n_other=int((~in_safety_phase).sum()),
    )


def _subset_metrics(sae, rows: torch.Tensor) -> tuple[float, float]:
    if len(rows) < 2:
        return float("nan"), float("nan")
    metrics = reconstruction_metrics(sae, rows)
    return metrics.explained_variance, metrics.mse


@dataclass(frozen=True)
class CELossScore:
    ce_clean: float
    ce_spliced: float
    ce_zero_ablated: float
    score: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@torch.no_grad()
def ce_loss_score(
    loaded: LoadedModel,
    sae,
    hook_name: str,
    transcripts: Sequence[Transcript],
    batch_size: int = 16,
) -> CELossScore:
    """Mean next-token loss on `transcripts` clean, with the SAE spliced in, and zero-ablated."""
    totals = torch.zeros(3, dtype=torch.float64)
    n_targets = 0
    for start in range(0, len(transcripts), batch_size):
        tokens, keep, targets = _right_padded(transcripts[start : start + batch_size], loaded)
        hooks: tuple[list, ...] = (
            [],
            [splice_hook(sae, hook_name, keep)],
            [zero_ablation_hook(hook_name, keep)],
        )
        for index, fwd_hooks in enumerate(hooks):
            logits = loaded.model.run_with_hooks(tokens, fwd_hooks=fwd_hooks)
            log_probs = logits[:, :-1].float().log_softmax(dim=-1)
            nll = -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)
            totals[index] += float(nll[targets].sum())
        n_targets += int(targets.sum())
    clean, spliced, zero = (totals / n_targets).tolist()
    return CELossScore(clean, spliced, zero, (zero - spliced) / (zero - clean))


def _right_padded(
    transcripts: Sequence[Transcript], loaded: LoadedModel
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tokens, the positions to splice, and the positions whose next token is a real target."""
    width = max(len(t.token_ids) for t in transcripts)
    pad_id = loaded.tokenizer.pad_token_id or 0
    tokens = torch.full((len(transcripts), width), pad_id, dtype=torch.long)
    keep = torch.zeros((len(transcripts), width), dtype=torch.bool)
    targets = torch.zeros((len(transcripts), width - 1), dtype=torch.bool)
    for row, transcript in enumerate(transcripts):
        n = len(transcript.token_ids)
        tokens[row, :n] = torch.tensor(transcript.token_ids)
        keep[row, :n] = torch.tensor(transcript.keep)
        targets[row, : n - 1] = True
    return tokens.to(loaded.model.cfg.device), keep, targets.to(loaded.model.cfg.device)
