"""Seeded surface noise for prompts: casing, dropped end punctuation and typos.

A prompt is rendered as segments ``(text, protected)``. Noise only touches unprotected
segments, so the key slot filler (the harmful task, the group, the benign task) always stays
exactly as written and the prompt stays classifiable.
"""

from __future__ import annotations

import random
import re

Segment = tuple[str, bool]

TYPO_RATE = 0.15
"""Fraction of prompts that get one or two typos."""
LOWERCASE_RATE = 0.35
"""Fraction of prompts written all in lowercase."""
CAPITALIZE_RATE = 0.2
"""Fraction of prompts whose first letter is capitalized (the rest keep the template casing)."""
STRIP_PUNCTUATION_RATE = 0.3
"""Fraction of prompts whose final question mark, full stop or exclamation mark is dropped."""

_TYPO_WORD = re.compile(r"[A-Za-z]{4,}")


def _typo(word: str, rng: random.Random) -> str:
    """Swap, drop or double one letter of `word`, never its first letter."""
    position = rng.randrange(1, len(word) - 1)
    operation = rng.randrange(3)
    if operation == 0:
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if operation == 1:
        return word[:position] + word[position + 1 :]
    return word[:position] + word[position] + word[position:]


def _add_typos(segments: list[Segment], rng: random.Random) -> None:
    candidates = [
        (index, match.start(), match.end())
        for index, (text, protected) in enumerate(segments)
        if not protected
        for match in _TYPO_WORD.finditer(text)
    ]
    if not candidates:
        return
    chosen = rng.sample(candidates, min(len(candidates), rng.choice((1, 1, 2))))
    # Edit right to left so that earlier offsets in the same segment stay valid.
    for index, start, end in sorted(chosen, reverse=True):
        text, protected = segments[index]
        segments[index] = (text[:start] + _typo(text[start:end], rng) + text[end:], protected)


def apply_noise(segments: list[Segment], rng: random.Random) -> str:
    """Join `segments` into a prompt after seeded casing, punctuation and typo noise."""
    parts = list(segments)

    style = rng.random()
    if style < LOWERCASE_RATE:
        parts = [(text if protected else text.lower(), protected) for text, protected in parts]
    elif style < LOWERCASE_RATE + CAPITALIZE_RATE and parts and not parts[0][1]:
        parts[0] = (parts[0][0][:1].upper() + parts[0][0][1:], False)

    if rng.random() < STRIP_PUNCTUATION_RATE and parts and not parts[-1][1]:
        parts[-1] = (parts[-1][0].rstrip("?.!"), False)

    if rng.random() < TYPO_RATE:
        _add_typos(parts, rng)

    return "".join(text for text, _ in parts).strip()
