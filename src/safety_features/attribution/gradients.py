"""Onset attribution: how much each SAE feature, before a safety onset, raises the onset.

A transcript has n prompt tokens and a safety onset at response token t, predicted at position
o = n + t - 1. The target T is one of

    "onset_logprob"   sum_{j < m} log p(y_{t+j} | y_{<t+j})        the first m onset tokens
    "phase_logprob"   mean over the phase's tokens (at most 32) of log p(y_s | y_{<s})

At the SAE's hook, at the positions P = {1, ..., o} (BOS excluded), the activation is split into
nodes, x_p = decode(f_p) + e_p with f_p = encode(x_p) and the error term e_p = x_p - decode(f_p);
the forward pass runs on them unchanged. For feature i and the error node:

    attribution patching   A_i   = sum_p f_{p,i} dT/df_{p,i}
                           A_err = sum_p e_p . dT/de_p
    integrated gradients   the same with the gradient averaged over the path (a f, a e) for
                           a = (k - 1/2) / steps, k = 1..steps (midpoint rule)

Integrated gradients are complete: sum_i A_i + A_err = T(f, e) - T(0, 0), where T(0, 0) has
the activations at P set to b_dec. Attribution patching is its one-step linear estimate
(the gradient at a = 1, as in Syed et al. 2023 and Marks et al. 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float
from tqdm.auto import tqdm

from safety_features.models.loading import LoadedModel
from safety_features.saes.loading import LoadedSAE

Method = Literal["attribution_patching", "integrated_gradients"]
METHODS = ("attribution_patching", "integrated_gradients")
Target = Literal["onset_logprob", "phase_logprob"]
TARGETS = ("onset_logprob", "phase_logprob")
MAX_PHASE_TOKENS = 32


@dataclass(frozen=True)
class OnsetExample:
    """One transcript with a safety onset to attribute."""

    token_ids: tuple[int, ...]
    n_prompt: int
    onset: int
    """Response index of the onset token."""
    phase_end: int | None = None
    """Response index of the phase's last token, for the "phase_logprob" target."""

    @property
    def onset_position(self) -> int:
        return self.n_prompt + self.onset - 1


@dataclass(frozen=True)
class Attributions:
    """Per-example attributions of the target to every feature and to the error node."""

    features: Float[np.ndarray, "examples d_sae"]
    error: Float[np.ndarray, " examples"]
    target: Float[np.ndarray, " examples"]
    """T at the actual activations."""
    target_at_zero: Float[np.ndarray, " examples"] | None
    """T with the nodes at zero (integrated gradients only)."""
    method: str
    steps: int


def target_value(
    log_probs: Float[torch.Tensor, "batch pos vocab"],
    tokens: torch.Tensor,
    examples: Sequence[OnsetExample],
    target: Target,
    n_tokens: int,
) -> Float[torch.Tensor, " batch"]:
    """T for each row; row b belongs to examples[b % len(examples)]."""
    values = []
    for row in range(log_probs.shape[0]):
        example = examples[row % len(examples)]
        n_response = len(example.token_ids) - example.n_prompt
        if target == "onset_logprob":
            last = min(example.onset + n_tokens, n_response) - 1
        else:
            end = example.phase_end if example.phase_end is not None else n_response - 1
            last = min(end, example.onset + MAX_PHASE_TOKENS - 1, n_response - 1)
        predicted = torch.arange(example.onset, last + 1) + example.n_prompt
        picked = log_probs[row, predicted - 1, tokens[row, predicted]]
        values.append(picked.sum() if target == "onset_logprob" else picked.mean())
    return torch.stack(values)


def check_examples(loaded: LoadedModel, examples: Sequence[OnsetExample]) -> None:
    for number, example in enumerate(examples):
        n_response = len(example.token_ids) - example.n_prompt
        if not 0 <= example.onset < n_response:
            raise ValueError(
                f"Example {number} has its onset at response token {example.onset} but "
                f"{n_response} response tokens: give an onset inside the response."
            )
        if len(example.token_ids) > loaded.model.cfg.n_ctx:
            raise ValueError(
                f"Example {number} has {len(example.token_ids)} tokens, more than the context "
                f"window of {loaded.model.cfg.n_ctx}: shorten it."
            )


def attribute_batch(
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    examples: Sequence[OnsetExample],
    method: Method,
    steps: int,
    target: Target,
    n_tokens: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Attributions for a few examples at once; see the module docstring."""
    model, sae = loaded.model, loaded_sae.sae
    pad_id = loaded.tokenizer.pad_token_id or 0
    width = max(len(e.token_ids) for e in examples)
    tokens = torch.full((len(examples), width), pad_id, dtype=torch.long)
    nodes_at = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, example in enumerate(examples):
        tokens[row, : len(example.token_ids)] = torch.tensor(example.token_ids)
        nodes_at[row, 1 : example.onset_position + 1] = True
    scales = (
        torch.ones(1)
        if method == "attribution_patching"
        else (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    )
    if method == "integrated_gradients":
        scales = torch.cat([scales, torch.zeros(1)])  # the last copy gives T(0, 0)
    n_copies = len(scales)
    tokens = tokens.repeat(n_copies, 1).to(model.cfg.device)
    nodes_at = nodes_at.repeat(n_copies, 1).to(model.cfg.device)
    scale = scales.repeat_interleave(len(examples)).to(model.cfg.device)[:, None, None]
    leaves: dict[str, torch.Tensor] = {}
    nodes: dict[str, torch.Tensor] = {}

    def split_into_nodes(activation: torch.Tensor, hook) -> torch.Tensor:
        with torch.no_grad():
            features = sae.encode(activation)
            error = activation - sae.decode(features)
        # The leaves are the nodes on the path, a f and a e. The gradient is taken there and
        # multiplied by the nodes' actual values f and e.
        nodes["features"], nodes["error"] = features, error
        leaves["features"] = (scale * features).requires_grad_(True)
        leaves["error"] = (scale * error).requires_grad_(True)
        spliced = sae.decode(leaves["features"]) + leaves["error"]
        return torch.where(nodes_at[..., None], spliced, activation)

    with torch.enable_grad(), model.hooks(fwd_hooks=[(loaded_sae.hook_name, split_into_nodes)]):
        log_probs = model(tokens).log_softmax(dim=-1)
        values = target_value(log_probs, tokens, examples, target, n_tokens)
        grads = torch.autograd.grad(values.sum(), [leaves["features"], leaves["error"]])
    keep = nodes_at[..., None].float()
    feature_terms = (nodes["features"] * grads[0] * keep).sum(dim=1)
    error_terms = (nodes["error"] * grads[1] * keep).sum(dim=(1, 2))
    n = len(examples)
    n_path = n_copies - (1 if method == "integrated_gradients" else 0)
    features = feature_terms[: n * n_path].reshape(n_path, n, -1).mean(dim=0)
    error = error_terms[: n * n_path].reshape(n_path, n).mean(dim=0)
    if method == "attribution_patching":
        return features, error, values.detach(), None
    with torch.no_grad():  # T at a = 1, where the nodes sum to the activations themselves
        actual = target_value(
            model(tokens[:n]).log_softmax(dim=-1), tokens[:n], examples, target, n_tokens
        )
    return features, error, actual, values.detach()[-n:]


def attribute_onsets(
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    examples: Sequence[OnsetExample],
    method: Method = "attribution_patching",
    steps: int = 16,
    target: Target = "onset_logprob",
    n_tokens: int = 3,
    batch_size: int = 8,
    progress: bool = True,
) -> Attributions:
    """Attribute the target of every example to every SAE feature and the error node."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid: use one of {', '.join(METHODS)}.")
    if target not in TARGETS:
        raise ValueError(f"target={target!r} is invalid: use one of {', '.join(TARGETS)}.")
    if steps <= 0 or n_tokens <= 0:
        raise ValueError(f"steps={steps} and n_tokens={n_tokens} are invalid: use positive values.")
    if not examples:
        raise ValueError("No onsets to attribute: the responses have no safety phase.")
    check_examples(loaded, examples)
    if method == "integrated_gradients":
        batch_size = max(1, batch_size // max(1, steps // 4))
    parts = []
    for start in tqdm(
        range(0, len(examples), batch_size), desc=method, disable=not progress, unit="batch"
    ):
        parts.append(
            attribute_batch(
                loaded,
                loaded_sae,
                examples[start : start + batch_size],
                method,
                steps,
                target,
                n_tokens,
            )
        )
    return Attributions(
        features=torch.cat([p[0] for p in parts]).cpu().numpy(),
        error=torch.cat([p[1] for p in parts]).cpu().numpy(),
        target=torch.cat([p[2] for p in parts]).cpu().numpy(),
        target_at_zero=None
        if method == "attribution_patching"
        else torch.cat([p[3] for p in parts]).cpu().numpy(),  # type: ignore[misc]
        method=method,
        steps=1 if method == "attribution_patching" else steps,
    )
