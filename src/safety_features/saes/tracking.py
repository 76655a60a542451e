"""Weights & Biases tracking that never stops a training run.

W&B is imported only here, and only when a run is tracked. When it cannot start (not
installed, not logged in, no network in online mode) or a later call fails, the run goes on
untracked and logs a warning with the reason. Offline runs are saved under the work folder
and can be uploaded later with `wandb sync <folder>`. Whatever happens to W&B, every logged
number is also appended to `history.jsonl` in the work folder, one line per log call, with
NaN written as null.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"


class Tracker:
    """A W&B run, or nothing when tracking is disabled or unavailable."""

    def __init__(self, run: Any = None, history: Path | None = None) -> None:
        self.run = run
        self.history = history
        self.folder = str(Path(run.dir).parent) if run is not None else None
        """The W&B run folder, kept after the run finishes."""

    @property
    def active(self) -> bool:
        return self.run is not None

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log(self, values: dict[str, Any], step: int) -> None:
        """Append the numbers to `history.jsonl` and log all `values` to W&B."""
        if not values:
            return
        if self.history is not None:
            with self.history.open("a", encoding="utf-8") as file:
                finite = {k: v if math.isfinite(v) else None for k, v in numeric(values).items()}
                file.write(json.dumps({"step": step, **finite}) + "\n")
        self.send(values, step)

    def send(self, values: dict[str, Any], step: int) -> None:
        """Log `values` to W&B only, leaving `history.jsonl` alone."""
        if self.run is None:
            return
        try:
            self.run.log(values, step=step)
        except Exception as error:  # noqa: BLE001 - any W&B failure must not stop training
            self._give_up("log", error)

    def summarize(self, values: dict[str, Any]) -> None:
        if self.run is None:
            return
        try:
            for key, value in values.items():
                self.run.summary[key] = value
        except Exception as error:  # noqa: BLE001
            self._give_up("write the summary", error)

    def finish(self) -> None:
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as error:  # noqa: BLE001
            self._give_up("finish", error)
        self.run = None

    def _give_up(self, action: str, error: Exception) -> None:
        logger.warning(
            "W&B failed to %s (%s: %s); training goes on without tracking.",
            action,
            type(error).__name__,
            error,
        )
        self.run = None


def start_tracking(
    mode: str,
    project: str,
    name: str,
    config: dict[str, Any],
    folder: Path,
    resume_id: str | None = None,
) -> Tracker:
    """Start a W&B run in `mode` (offline, online or disabled), or an inactive Tracker.

    Either way the Tracker appends to `folder/history.jsonl`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    history = folder / HISTORY_FILE
    if mode == "disabled":
        logger.info("W&B tracking is disabled for this run.")
        return Tracker(history=history)
    try:
        import wandb

        run = wandb.init(
            project=project,
            name=name,
            config=config,
            dir=str(folder),
            mode=mode,  # type: ignore[arg-type]  # validated by TrackingConfig
            id=resume_id,
            resume="allow" if resume_id else None,
            settings=wandb.Settings(init_timeout=30, silent=True),
        )
    except Exception as error:  # noqa: BLE001 - W&B being unavailable must not stop training
        logger.warning(
            "W&B could not start in %s mode (%s: %s); the run goes on without tracking.",
            mode,
            type(error).__name__,
            error,
        )
        return Tracker(history=history)
    logger.info("W&B run %s (%s mode) in %s", run.id, mode, run.dir)
    return Tracker(run, history)


def numeric(values: dict[str, Any]) -> dict[str, float]:
    """Return the plain numbers of a log dict, leaving out W&B histograms and other objects."""
    return {
        key: float(value)
        for key, value in values.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool)
    }
