"""The effect of safety tuning by position: KL(chat ‖ base) of the next-token distributions, by response position.

Both models read the same transcripts (prompt and the chat model's greedy response); at the
position that predicts response token t, the divergence is
KL(p_chat || p_base) = sum_v p_chat(v) (log p_chat(v) - log p_base(v)). The curve gives its
mean over responses at each t, with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from safety_features.experiments.onsets import ExperimentInputError
from safety_features.experiments.statistics import bootstrap_mean
from safety_features.models.loading import LoadedModel
from safety_features.phases.responses import DetectedResponse


def check_same_tokenizer(chat: LoadedModel, base: LoadedModel) -> None:
    if chat.tokenizer.get_vocab() != base.tokenizer.get_vocab():
        raise ExperimentInputError(
            f"{chat.name} and {base.name} have different tokenizers, so their next-token "
            "distributions cannot be compared: set base_model to the chat model's base, or to "
            "null to skip the prefilling test and the KL divergence."
        )


@torch.no_grad()
def divergence_by_position(
    chat: LoadedModel,
    base: LoadedModel,
    responses: Sequence[DetectedResponse],
    batch_size: int = 16,
) -> np.ndarray:
    """[responses, max response length] KL values, NaN past each response's end."""
    width = max((len(r.generation.response_token_ids) for r in responses), default=0)
    values = np.full((len(responses), width), np.nan)
    pad_id = chat.tokenizer.pad_token_id or 0
    for start in range(0, len(responses), batch_size):
        chunk = responses[start : start + batch_size]
        transcripts = [
            (*r.generation.prompt_token_ids, *r.generation.response_token_ids) for r in chunk
        ]
        tokens = torch.full((len(chunk), max(len(t) for t in transcripts)), pad_id)
        for row, ids in enumerate(transcripts):
            tokens[row, : len(ids)] = torch.tensor(ids)
        chat_log = chat.model(tokens.to(chat.model.cfg.device)).log_softmax(dim=-1).cpu()
        base_log = base.model(tokens.to(base.model.cfg.device)).log_softmax(dim=-1).cpu()
        kl = (chat_log.exp() * (chat_log - base_log)).sum(dim=-1)
        for row, response in enumerate(chunk):
            n_prompt = len(response.generation.prompt_token_ids)
            n_response = len(response.generation.response_token_ids)
            values[start + row, :n_response] = kl[
                row, n_prompt - 1 : n_prompt - 1 + n_response
            ].numpy()
    return values


def divergence_curve(values: np.ndarray, n_bootstrap: int) -> dict:
    curve = [bootstrap_mean(values[:, [t]], n_bootstrap).to_dict() for t in range(values.shape[1])]
    defined = values[~np.isnan(values)]
    return {
        "by_position": curve,
        "mean": float(defined.mean()) if defined.size else float("nan"),
        "first_token": curve[0] if curve else None,
    }
