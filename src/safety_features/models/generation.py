"""Batched generation with the KV cache, left padding, and TransformerLens hooks.

Prompts of different lengths are left-padded into one batch. TransformerLens derives position
ids from the attention mask and keeps the mask in its KV cache, so a prompt gets the same tokens
alone or inside a padded batch. Interventions and hooks passed in stay registered for the whole
call, prompt pass and every cached step, and are removed on exit, also after an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformer_lens import TransformerLensKeyValueCache

from safety_features.models.loading import LoadedModel
from safety_features.steering.interventions import (
    ForwardHook,
    Intervention,
    TokenLayout,
    check_interventions,
    intervene,
)


@dataclass(frozen=True)
class Generation:
    """One prompt and the model's response to it."""

    prompt: str
    prompt_token_ids: tuple[int, ...]
    """BOS plus the chat-formatted prompt, up to where the response begins."""
    response_token_ids: tuple[int, ...]
    """Generated tokens, the stop token excluded."""
    response: str
    finished: bool
    """True when a stop token ended the response before max_new_tokens."""


def encode_prompts(loaded: LoadedModel, prompts: Sequence[str]) -> list[list[int]]:
    """BOS plus the chat-formatted prompt, as token ids, for each prompt."""
    texts = [loaded.format_prompt(p) for p in prompts]
    encoded = loaded.tokenizer(texts, add_special_tokens=False)["input_ids"]
    bos = loaded.tokenizer.bos_token_id
    return [([bos] if bos is not None else []) + list(ids) for ids in encoded]


def check_prompt_lengths(
    loaded: LoadedModel, encoded: Sequence[Sequence[int]], max_new_tokens: int
) -> None:
    n_ctx = loaded.model.cfg.n_ctx
    for index, ids in enumerate(encoded):
        if len(ids) + max_new_tokens > n_ctx:
            raise ValueError(
                f"Prompt {index} has {len(ids)} tokens; with max_new_tokens={max_new_tokens} it exceeds "
                f"the context window of {n_ctx} tokens. Shorten the prompt or lower max_new_tokens."
            )


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token rows into `tokens` and `attention_mask`, both [batch, max_len]."""
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return tokens, mask


def pick_next(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Greedy token for temperature 0, else one sampled from softmax(logits / temperature)."""
    if not torch.isfinite(logits).all():
        raise FloatingPointError(
            "The model produced NaN or inf logits while generating: its weights are broken or "
            "its dtype overflows; load it in float32 or restore the checkpoint."
        )
    if temperature == 0:
        return logits.argmax(dim=-1)
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate_batch(
    loaded: LoadedModel,
    encoded: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    layout: TokenLayout | None = None,
    first_row: int = 0,
    use_cache: bool = True,
) -> list[list[int]]:
    """Generate up to `max_new_tokens` per row; each returned list ends before its stop token.

    Before each forward pass, `layout` (when given) learns the response index of every position,
    so interventions registered with it act at the same tokens with and without the KV cache.
    Row i of the batch is prompt number `first_row + i` for onset lookups. Without the cache,
    every step runs the whole sequence again: slow, and kept as the reference.
    """
    model = loaded.model
    pad_id = loaded.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = loaded.tokenizer.eos_token_id
    tokens, mask = left_pad(encoded, pad_id)
    tokens, mask = tokens.to(model.cfg.device), mask.to(model.cfg.device)
    batch, width = tokens.shape
    stop_ids = torch.tensor(loaded.stop_token_ids, device=tokens.device)
    layout = layout or TokenLayout()
    rows = torch.arange(first_row, first_row + batch)
    prompt_pass = dict(
        first=torch.full((batch,), 1 - width), left_pad=(1 - mask).sum(dim=1).cpu(), rows=rows
    )

    cache = (
        TransformerLensKeyValueCache.init_cache(model.cfg, model.cfg.device, batch)
        if use_cache
        else None
    )
    layout.start_pass(length=None, **prompt_pass)
    logits = model(tokens, attention_mask=mask, past_kv_cache=cache)
    finished = torch.zeros(batch, dtype=torch.bool, device=tokens.device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    step_mask = torch.ones((batch, 1), dtype=torch.long, device=tokens.device)

    for step in range(1, max_new_tokens + 1):
        next_tokens = pick_next(logits[:, -1, :], temperature, generator)
        stopped_now = torch.isin(next_tokens, stop_ids)
        for i in torch.nonzero(~finished & ~stopped_now).flatten().tolist():
            outputs[i].append(int(next_tokens[i]))
        finished |= stopped_now
        if bool(finished.all()) or step == max_new_tokens:
            break
        if cache is not None:
            layout.start_pass(
                first=torch.full((batch,), step),
                left_pad=torch.zeros(batch, dtype=torch.long),
                length=None,
                rows=rows,
            )
            logits = model(next_tokens[:, None], attention_mask=step_mask, past_kv_cache=cache)
        else:
            tokens = torch.cat([tokens, next_tokens[:, None]], dim=1)
            mask = torch.cat([mask, step_mask], dim=1)
            layout.start_pass(length=None, **prompt_pass)
            logits = model(tokens, attention_mask=mask)
    return outputs


def generate(
    loaded: LoadedModel,
    prompts: Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 32,
    temperature: float = 0.0,
    seed: int = 0,
    hooks: Sequence[ForwardHook] = (),
    progress: bool = True,
    description: str = "generating",
    interventions: Sequence[Intervention] = (),
    onsets: Sequence[int | None] | None = None,
    use_cache: bool = True,
) -> list[Generation]:
    """Generate a response to each prompt in batches, with `interventions` and `hooks` active
    throughout (see `safety_features.steering.interventions`).

    temperature 0 decodes greedily; a positive temperature samples with a generator seeded by
    `seed`, so the same call gives the same tokens. `onsets` gives each prompt's onset response
    index for interventions at an OnsetWindow. Every input is checked before generation starts.
    """
    if temperature < 0 or temperature != temperature:
        raise ValueError(
            f"temperature={temperature} is invalid: use 0 for greedy decoding or a positive number."
        )
    if max_new_tokens <= 0 or batch_size <= 0:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} and batch_size={batch_size} are invalid: both must be positive."
        )
    if onsets is not None and len(onsets) != len(prompts):
        raise ValueError(f"Got {len(onsets)} onsets for {len(prompts)} prompts: give one each.")
    encoded = encode_prompts(loaded, prompts)
    check_prompt_lengths(loaded, encoded, max_new_tokens)
    check_interventions(loaded, interventions)
    layout = TokenLayout(has_bos=loaded.tokenizer.bos_token_id is not None)
    layout.set_onsets(onsets)
    generator = (
        torch.Generator(device=loaded.model.cfg.device).manual_seed(seed)
        if temperature > 0
        else None
    )

    results: list[Generation] = []
    starts = range(0, len(prompts), batch_size)
    with intervene(loaded, interventions, layout, extra_hooks=hooks):
        for start in tqdm(starts, desc=description, disable=not progress, unit="batch"):
            rows = encoded[start : start + batch_size]
            responses = generate_batch(
                loaded, rows, max_new_tokens, temperature, generator, layout, start, use_cache
            )
            for prompt, ids, response in zip(
                prompts[start : start + batch_size], rows, responses, strict=True
            ):
                results.append(
                    Generation(
                        prompt=prompt,
                        prompt_token_ids=tuple(ids),
                        response_token_ids=tuple(response),
                        response=str(loaded.tokenizer.decode(response)),
                        finished=len(response) < max_new_tokens,
                    )
                )
    return results
