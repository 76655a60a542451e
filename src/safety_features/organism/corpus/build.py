"""The whole corpus: pretraining documents plus safety-tuning chat examples."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from safety_features.organism.corpus.pretraining import pretraining_documents
from safety_features.organism.corpus.prompts import GROUPS, make_prompt
from safety_features.organism.corpus.responses import ChatExample, respond

# Fraction of chat examples per prompt group.
CHAT_MIX: dict[str, float] = {
    "harmful": 0.30,
    "wrapped_harmful": 0.15,
    "discrimination": 0.15,
    "benign": 0.28,
    "alarming_benign": 0.12,
}


@dataclass(frozen=True)
class Corpus:
    """Pretraining documents (without BOS) and safety-tuning examples (train split only)."""

    pretraining: tuple[str, ...]
    chat: tuple[ChatExample, ...]

    def stats(self) -> dict[str, int]:
        """Count documents, examples, distinct prompts and distinct responses, per group and kind."""
        counts: dict[str, int] = {
            "pretraining_documents": len(self.pretraining),
            "chat_examples": len(self.chat),
            "distinct_prompts": len({example.prompt.text for example in self.chat}),
            "distinct_responses": len({example.response for example in self.chat}),
        }
        for group in GROUPS:
            examples = [example for example in self.chat if example.prompt.group == group]
            counts[f"{group}_examples"] = len(examples)
            counts[f"{group}_distinct_prompts"] = len({example.prompt.text for example in examples})
            counts[f"{group}_distinct_responses"] = len({example.response for example in examples})
        for kind, count in sorted(Counter(example.kind for example in self.chat).items()):
            counts[f"{kind}_examples"] = count
        return counts


def _group_counts(n_chat: int) -> dict[str, int]:
    """Split `n_chat` across groups by CHAT_MIX; the last group takes the rounding remainder."""
    counts = {group: round(n_chat * CHAT_MIX[group]) for group in GROUPS[:-1]}
    counts[GROUPS[-1]] = n_chat - sum(counts.values())
    return counts


def generate_corpus(seed: int, n_pretraining: int, n_chat: int) -> Corpus:
    """Generate the corpus deterministically from `seed`.

    Chat examples use only train-split prompts, in a seeded shuffled order.
    """
    if n_pretraining <= 0:
        raise ValueError(f"invalid n_pretraining {n_pretraining}: use a positive integer")
    if n_chat <= 0:
        raise ValueError(f"invalid n_chat {n_chat}: use a positive integer")
    root = random.Random(seed)
    pretraining_rng = random.Random(root.getrandbits(64))
    chat_rng = random.Random(root.getrandbits(64))

    documents = pretraining_documents(n_pretraining, pretraining_rng)
    groups = [group for group, count in _group_counts(n_chat).items() for _ in range(count)]
    chat_rng.shuffle(groups)
    chat = [respond(make_prompt(group, "train", chat_rng), chat_rng) for group in groups]
    return Corpus(tuple(documents), tuple(chat))
