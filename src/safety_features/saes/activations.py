"""Residual-stream activations from chat transcripts, for SAE training and feature statistics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from tqdm.auto import tqdm

from safety_features.models.loading import LoadedModel


class HookNotFoundError(ValueError):
    """A hook name the model does not have."""


def check_hook_name(loaded: LoadedModel, hook_name: str) -> None:
    if hook_name not in loaded.model.hook_dict:
        resid = [n for n in loaded.model.hook_dict if n.endswith("hook_resid_pre")]
        raise HookNotFoundError(
            f"Hook {hook_name!r} does not exist in {loaded.name}: residual-stream hooks are "
            f"{', '.join(resid)}. Set hook_name in the config to one of them."
        )


def skipped_token_ids(loaded: LoadedModel, mask_template_tokens: bool = False) -> set[int]:
    """Token ids whose activations SAEs skip.

    BOS and padding always: the BOS position's residual stream has a norm far above every other
    position's, and padding is not text. With `mask_template_tokens`, also the chat template's
    special tokens. They stay in by default, because the assistant tag is the position that
    decides whether a response starts with a refusal.
    """
    tokenizer = loaded.tokenizer
    ids = {tokenizer.bos_token_id, tokenizer.pad_token_id}
    if mask_template_tokens:
        ids |= set(tokenizer.all_special_ids)
    return {i for i in ids if i is not None}


def layer_of_hook(hook_name: str) -> int | None:
    """Block index of a ``blocks.{l}.…`` hook, or None for hooks outside the blocks."""
    parts = hook_name.split(".")
    if len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit():
        return int(parts[1])
    return None


@torch.no_grad()
def transcript_activations(
    loaded: LoadedModel,
    hook_name: str,
    transcripts: Sequence[Sequence[int]],
    keep_masks: Sequence[Sequence[bool]],
    batch_size: int = 32,
    progress: bool = True,
) -> Float[torch.Tensor, "n_tokens d_in"]:
    """Activations at `hook_name` for every transcript position whose keep-mask entry is True.

    Transcripts are right-padded, so padding never changes the activations of real tokens in
    a causal model. The forward pass stops right after the hooked block.
    """
    check_hook_name(loaded, hook_name)
    layer = layer_of_hook(hook_name)
    stop_at = None if layer is None else layer + 1
    pad_id = loaded.tokenizer.pad_token_id or 0
    chunks = []
    for start in tqdm(
        range(0, len(transcripts), batch_size), desc="activations", disable=not progress
    ):
        rows = transcripts[start : start + batch_size]
        keeps = keep_masks[start : start + batch_size]
        width = max(len(r) for r in rows)
        tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
        keep = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, (ids, row_keep) in enumerate(zip(rows, keeps, strict=True)):
            tokens[i, : len(ids)] = torch.tensor(ids)
            keep[i, : len(ids)] = torch.tensor(row_keep, dtype=torch.bool)
        _, cache = loaded.model.run_with_cache(
            tokens.to(loaded.model.cfg.device), names_filter=hook_name, stop_at_layer=stop_at
        )
        chunks.append(cache[hook_name][keep.to(cache[hook_name].device)].float().cpu())
    return torch.cat(chunks)
