"""The repository's location, importable without torch."""

from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
"""The checkout the package runs from (src layout: src/safety_features/ is two levels down)."""
