"""Load an SAE checkpoint (SAELens on-disk format) and check that it fits a model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sae_lens import SAE

from safety_features.models.loading import LoadedModel, hub_offline

METADATA_FILE = "safety_features.json"


class SAELoadError(RuntimeError):
    """An SAE folder that is missing, corrupt, or made for another model or hook."""


@dataclass
class LoadedSAE:
    sae: SAE
    path: Path
    hook_name: str
    metadata: dict


def load_sae(path: str | Path, device: str = "cpu") -> LoadedSAE:
    """Read an SAE folder with `sae_lens.SAE.load_from_disk` (safetensors weights)."""
    path = Path(path)
    for name in ("cfg.json", "sae_weights.safetensors"):
        if not (path / name).is_file():
            raise SAELoadError(
                f"SAE folder {path} is missing {name}. Train one with `python train/sae.py` "
                "or pass the folder of an existing SAE checkpoint."
            )
    try:
        sae = SAE.load_from_disk(path, device=device)
    except (OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as error:
        raise SAELoadError(
            f"SAE folder {path} could not be loaded ({error}); retrain or restore it."
        ) from error
    metadata: dict = {}
    if (path / METADATA_FILE).is_file():
        metadata = json.loads((path / METADATA_FILE).read_text())
    hook_name = sae.cfg.metadata.hook_name or metadata.get("hook_name")
    if not hook_name:
        raise SAELoadError(f"SAE folder {path} names no hook in cfg.json metadata.hook_name.")
    return LoadedSAE(sae, path, hook_name, metadata)


def load_pretrained_sae(release: str, sae_id: str, device: str = "cpu") -> LoadedSAE:
    """Load a released SAE by name with `SAE.from_pretrained`, from the local Hugging Face cache.

    `release` is a name from SAELens' pretrained directory (`gpt2-small-res-jb`) or a hub
    repository id; `sae_id` names the SAE inside it. The hub stays offline: the files must
    have been downloaded before, on a machine with a network.
    """
    try:
        with hub_offline():
            sae, cfg_dict, _ = SAE.from_pretrained_with_cfg_and_sparsity(release, sae_id, device)
    except (OSError, ValueError) as error:
        raise SAELoadError(
            f"SAE {sae_id!r} of release {release!r} could not be loaded from the local Hugging Face "
            f"cache ({type(error).__name__}: {error}). Check both names against SAELens' pretrained "
            "directory, and download the files where a network is available (`SAE.from_pretrained"
            f"({release!r}, {sae_id!r})` there fills the cache), then copy the cache here."
        ) from error
    hook_name = sae.cfg.metadata.hook_name
    if not hook_name:
        raise SAELoadError(f"SAE {sae_id!r} of release {release!r} names no hook in its config.")
    metadata = {"release": release, "sae_id": sae_id, "model": sae.cfg.metadata.model_name}
    return LoadedSAE(sae, Path(f"{release}/{sae_id}"), hook_name, metadata)


def check_sae_fits(loaded_sae: LoadedSAE, loaded: LoadedModel) -> None:
    """Raise when the SAE's hook or width does not match the model."""
    if loaded_sae.hook_name not in loaded.model.hook_dict:
        raise SAELoadError(
            f"SAE {loaded_sae.path} reads hook {loaded_sae.hook_name!r}, which {loaded.name} does not have."
        )
    d_in = loaded_sae.sae.cfg.d_in
    if d_in != loaded.model.cfg.d_model:
        raise SAELoadError(
            f"SAE {loaded_sae.path} has d_in={d_in} but {loaded.name} has d_model={loaded.model.cfg.d_model}: "
            "use an SAE trained on this model."
        )
    expected = loaded_sae.metadata.get("model_weights_sha256")
    if expected and loaded.weights_sha256 and expected != loaded.weights_sha256:
        raise SAELoadError(
            f"SAE {loaded_sae.path} was trained on model weights {expected[:12]}…, but {loaded.name} has "
            f"{loaded.weights_sha256[:12]}…: retrain the SAE on this model."
        )
