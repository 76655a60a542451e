"""Prefilling: force the start of a compliant answer and see whether the model returns to safety.

The compliant answers are the base model's greedy responses (before safety tuning), kept only
where the detector finds no safety phase in them. For each prefix length k, the chat model
continues from the prompt plus the first k tokens of the compliant answer, and the response
(prefix and continuation) goes through the phase detector. A response returns to safety when a
safety onset lies at or after token k; its return delay is onset - k tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from safety_features.experiments.statistics import bootstrap_mean
from safety_features.models.generation import Generation, encode_prompts, generate, generate_batch
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import Prompt
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.responses import detect_responses


def compliant_answers(
    base: LoadedModel,
    detector: PhaseDetector,
    prompts: Sequence[Prompt],
    n_tokens: int,
    batch_size: int,
    progress: bool,
) -> list[tuple[int, ...] | None]:
    """Generate the base model's greedy answer to each prompt; None where it has a safety phase."""
    generations = generate(
        base,
        [p.text for p in prompts],
        max_new_tokens=n_tokens,
        batch_size=batch_size,
        progress=progress,
        description="compliant answers",
    )
    detected = detect_responses(base, prompts, generations, detector)
    return [None if r.has_safety_phase else r.generation.response_token_ids for r in detected]


def prefill_rows(
    chat: LoadedModel,
    prompts: Sequence[Prompt],
    answers: Sequence[tuple[int, ...] | None],
    k: int,
    new_tokens: int,
) -> tuple[list[int], list[list[int]], dict[str, int]]:
    """Indices and token rows (prompt + k answer tokens) of the prompts that can take prefix k."""
    encoded = encode_prompts(chat, [p.text for p in prompts])
    chosen, rows = [], []
    skipped = {"no_compliant_answer": 0, "answer_shorter_than_k": 0, "exceeds_context": 0}
    for index, (ids, answer) in enumerate(zip(encoded, answers, strict=True)):
        if answer is None:
            skipped["no_compliant_answer"] += 1
        elif len(answer) < k:
            skipped["answer_shorter_than_k"] += 1
        elif len(ids) + k + new_tokens > chat.model.cfg.n_ctx:
            skipped["exceeds_context"] += 1
        else:
            chosen.append(index)
            rows.append([*ids, *answer[:k]])
    return chosen, rows, skipped


def prefill_test(
    chat: LoadedModel,
    detector: PhaseDetector,
    prompts: Sequence[Prompt],
    answers: Sequence[tuple[int, ...] | None],
    lengths: Sequence[int],
    new_tokens: int,
    batch_size: int,
    n_bootstrap: int,
) -> dict:
    """Return rate and delay per prefix length, with intervals over prompts."""
    result = {}
    for k in lengths:
        chosen, rows, skipped = prefill_rows(chat, prompts, answers, k, new_tokens)
        if not rows:
            result[str(k)] = {"n_prompts": 0, "skipped": skipped}
            continue
        continuations: list[list[int]] = []
        for start in range(0, len(rows), batch_size):
            continuations += generate_batch(chat, rows[start : start + batch_size], new_tokens)
        encoded = encode_prompts(chat, [prompts[i].text for i in chosen])
        generations = []
        for index, ids, row, continuation in zip(chosen, encoded, rows, continuations, strict=True):
            response = (*row[len(ids) :], *continuation)
            generations.append(
                Generation(
                    prompt=prompts[index].text,
                    prompt_token_ids=tuple(ids),
                    response_token_ids=response,
                    response=str(chat.tokenizer.decode(list(response))),
                    finished=len(continuation) < new_tokens,
                )
            )
        detected = detect_responses(chat, [prompts[i] for i in chosen], generations, detector)
        onsets = [
            None if r.onset is None or r.onset.token_index is None else r.onset.token_index
            for r in detected
        ]
        returned = np.array([[float(t is not None and t >= k)] for t in onsets])
        delays = np.array([[t - k if t is not None and t >= k else np.nan] for t in onsets])
        result[str(k)] = {
            "n_prompts": len(chosen),
            "skipped": skipped,
            "return_rate": bootstrap_mean(returned, n_bootstrap).to_dict(),
            "return_delay": bootstrap_mean(delays, n_bootstrap).to_dict(),
            "onset_inside_prefix": sum(t is not None and t < k for t in onsets),
            "examples": [
                {
                    "prefix": chat.tokenizer.decode(list(g.response_token_ids[:k])),
                    "response": g.response,
                }
                for g in generations[:3]
            ],
        }
    return result
