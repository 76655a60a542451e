"""Seeded, deterministic corpus generator for the organism.

`generate_corpus` writes pretraining documents (no safety behaviour) and safety-tuning chat
examples (refusal, equality, helpful and recovery responses). `sample_prompts` draws
evaluation prompts. Its "heldout" split uses templates, wrappers and fillers that never
occur in chat training data. Held-out fillers do occur in pretraining text, but held-out
prompt texts do not (the tests check this on samples).
The same seed always gives the same corpus, because every draw goes through
`random.Random` instances seeded from it.
"""

from safety_features.organism.corpus.build import CHAT_MIX, Corpus, generate_corpus
from safety_features.organism.corpus.prompts import (
    BENIGN_DOMAINS,
    DISCRIMINATION_TARGETS,
    GROUPS,
    HARM_CATEGORIES,
    Prompt,
    sample_prompts,
)
from safety_features.organism.corpus.responses import KINDS, ChatExample, respond
from safety_features.organism.corpus.splits import SPLITS

__all__ = [
    "BENIGN_DOMAINS",
    "CHAT_MIX",
    "DISCRIMINATION_TARGETS",
    "GROUPS",
    "HARM_CATEGORIES",
    "KINDS",
    "SPLITS",
    "ChatExample",
    "Corpus",
    "Prompt",
    "generate_corpus",
    "respond",
    "sample_prompts",
]
