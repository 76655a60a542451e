"""The repository's location, importable without torch."""

from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
"""The checkout the package runs from (src layout: src/safety_features/ is two levels down)."""


def repository_path(path: str | Path) -> Path:
    """Return the path as given when it exists or is absolute, else inside the repository."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() or candidate.exists() else REPOSITORY_ROOT / path
