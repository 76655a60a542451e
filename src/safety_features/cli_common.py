"""Helpers shared by the command-line modules: config paths and JSON output."""

from __future__ import annotations

import json
from pathlib import Path


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
