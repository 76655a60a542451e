"""Helpers shared by the command-line modules: config paths and JSON output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def positive_int(text: str) -> int:
    """Parse a command-line count that must be at least 1."""
    return int_at_least(text, 1)


def int_at_least(text: str, minimum: int) -> int:
    """Parse a command-line whole number of at least `minimum`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: use a whole number of {minimum} or more"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is invalid: use {minimum} or more")
    return value


def print_json(data) -> None:
    from safety_features.files import json_safe

    print(json.dumps(json_safe(data), indent=2, allow_nan=False))


def config_path(path: str) -> Path:
    """Resolve a config path: as given, or inside the repository when it is relative and absent here."""
    from safety_features.paths import REPOSITORY_ROOT

    candidate = Path(path)
    if candidate.exists() or candidate.is_absolute():
        return candidate
    return REPOSITORY_ROOT / candidate
