"""Resumable training checkpoints, written with safetensors and JSON (no pickle).

A checkpoint folder `step-<n>` contains the training SAE's parameters, the optimizer, learning
rate and coefficient schedulers, and the trainer's feature-firing statistics: everything
`SAETrainer` changes while it trains. Nested state (such as an optimizer's state dict) is
split into its tensors, stored in `state.safetensors` under their key paths, and the rest,
stored in `state.json` with a placeholder for each tensor. Folders are written under a
temporary name and renamed, so a run killed while saving keeps its previous checkpoint.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from sae_lens import SAETrainer
from safetensors.torch import load_file, save_file

from safety_features.files import atomic_directory

logger = logging.getLogger(__name__)

STEP_FOLDER = re.compile(r"^step-(\d{8})$")
TRAINER_TENSORS = ("act_freq_scores", "n_forward_passes_since_fired")
TRAINER_NUMBERS = (
    "n_training_samples",
    "n_training_steps",
    "n_frac_active_samples",
    "started_fine_tuning",
)


class CheckpointError(RuntimeError):
    """A training checkpoint that is unreadable or belongs to another run."""


def split_tensors(value: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """Return `value` as JSON-ready data with each tensor moved into `tensors` by key path."""
    if isinstance(value, torch.Tensor):
        tensors[path] = value.detach().cpu().contiguous()
        return {"tensor": path}
    if isinstance(value, dict):
        return {
            "dict": [
                [key, split_tensors(item, tensors, f"{path}/{key}")] for key, item in value.items()
            ]
        }
    if isinstance(value, (list, tuple)):
        items = [split_tensors(item, tensors, f"{path}/{i}") for i, item in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise CheckpointError(f"Cannot store a {type(value).__name__} at {path} in a checkpoint.")


def join_tensors(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `split_tensors`."""
    (kind, content), *_ = data.items()
    if kind == "tensor":
        return tensors[content]
    if kind == "dict":
        return {key: join_tensors(item, tensors) for key, item in content}
    if kind in ("list", "tuple"):
        items = [join_tensors(item, tensors) for item in content]
        return tuple(items) if kind == "tuple" else items
    return content


def trainer_state(trainer: SAETrainer) -> dict[str, Any]:
    return {
        "sae": trainer.sae.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "lr_scheduler": trainer.lr_scheduler.state_dict(),
        "coefficient_schedulers": {
            name: scheduler.state_dict()
            for name, scheduler in trainer.coefficient_schedulers.items()
        },
        "activation_scaling_factor": trainer.activation_scaler.scaling_factor,
        **{name: getattr(trainer, name) for name in TRAINER_TENSORS + TRAINER_NUMBERS},
    }


def save_checkpoint(trainer: SAETrainer, folder: Path, extra: dict[str, Any]) -> Path:
    """Write `folder/step-<n>` for the trainer's current step and delete older ones."""
    path = folder / f"step-{trainer.n_training_steps:08d}"
    tensors: dict[str, torch.Tensor] = {}
    data = split_tensors(trainer_state(trainer), tensors)
    with atomic_directory(path) as temporary:
        save_file(tensors, temporary / "state.safetensors")
        (temporary / "state.json").write_text(json.dumps({"state": data, "extra": extra}))
    for older in checkpoint_folders(folder)[:-1]:
        shutil.rmtree(older)
    logger.info("Saved checkpoint %s", path)
    return path


def checkpoint_folders(folder: Path) -> list[Path]:
    """Complete checkpoint folders under `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if STEP_FOLDER.match(p.name) and p.is_dir())


def load_checkpoint(trainer: SAETrainer, path: Path) -> dict[str, Any]:
    """Restore the trainer from `path`; return the `extra` data saved with it."""
    try:
        tensors = load_file(path / "state.safetensors")
        saved = json.loads((path / "state.json").read_text())
        state = join_tensors(saved["state"], tensors)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"Checkpoint {path} could not be read ({error}): delete it to resume from an "
            "earlier one, or start again with --overwrite."
        ) from error
    trainer.sae.load_state_dict(state["sae"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.lr_scheduler.load_state_dict(state["lr_scheduler"])
    for name, scheduler_state in state["coefficient_schedulers"].items():
        trainer.coefficient_schedulers[name].load_state_dict(scheduler_state)
    trainer.activation_scaler.scaling_factor = state["activation_scaling_factor"]
    for name in TRAINER_TENSORS + TRAINER_NUMBERS:
        setattr(trainer, name, state[name])
    return saved["extra"]
