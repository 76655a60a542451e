"""Fixed train/held-out split of every template, wrapper and filler list in the corpus.

The split depends on list position only, never on a seed: the item at index i is held out
when ``i % HELDOUT_PERIOD == HELDOUT_PERIOD - 1``, so about a quarter of each list is held
out and all seeds share the same held-out items. Lists need at least ``HELDOUT_PERIOD``
items to have a held-out part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

SPLITS: tuple[str, ...] = ("train", "heldout")
HELDOUT_PERIOD = 4

T = TypeVar("T")


def check_split(split: str) -> None:
    """Raise ValueError unless `split` is one of SPLITS."""
    if split not in SPLITS:
        raise ValueError(f"invalid split {split!r}: use one of {', '.join(map(repr, SPLITS))}")


def is_heldout(index: int) -> bool:
    """Return whether the item at `index` of a content list belongs to the held-out split."""
    return index % HELDOUT_PERIOD == HELDOUT_PERIOD - 1


def split_indices(length: int, split: str) -> tuple[int, ...]:
    """Indices of a list of `length` items that belong to `split`."""
    check_split(split)
    heldout = split == "heldout"
    return tuple(i for i in range(length) if is_heldout(i) == heldout)


def split_items(items: Sequence[T], split: str) -> tuple[T, ...]:
    """Items of `items` that belong to `split`, in list order."""
    return tuple(items[i] for i in split_indices(len(items), split))
