"""Matplotlib without a display, and PNG files written under a temporary name."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, imported only when a plot is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path) -> None:
    """Save `figure` as a PNG beside `path`, rename it over `path`, and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.tight_layout()
    figure.savefig(temporary, dpi=100)
    pyplot().close(figure)
    temporary.replace(path)
