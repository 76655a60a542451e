"""Shared fixtures: a tiny organism built in seconds, and a tiny SAE trained on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from sae_lens import (
    JumpReLUSAE,
    JumpReLUSAEConfig,
    StandardSAE,
    StandardSAEConfig,
    TopKSAE,
    TopKSAEConfig,
)
from sae_lens.saes.sae import SAEMetadata

from safety_features.config import load_config
from safety_features.models.loading import REPOSITORY_ROOT, load_model
from safety_features.organism.config import OrganismConfig
from safety_features.organism.train import build_organism
from safety_features.saes.config import ActivationDataConfig, SAETrainingConfig, TrackingConfig
from safety_features.saes.loading import LoadedSAE
from safety_features.saes.training import train_sae

TINY_ORGANISM_CONFIG = REPOSITORY_ROOT / "configs" / "organism-tiny.yaml"
SHIPPED_CHAT = REPOSITORY_ROOT / "checkpoints" / "organism" / "chat"
SHIPPED_SAE = REPOSITORY_ROOT / "checkpoints" / "saes" / "organism-chat-resid2"

TINY_SAE_CONFIG = SAETrainingConfig(
    run_name="tiny-sae",
    hook_name="blocks.1.hook_resid_pre",
    d_sae=64,
    k=4,
    training_tokens=4096,
    batch_size=128,
    checkpoint_every=8,
    data=ActivationDataConfig(n_prompts_per_group=8, max_new_tokens=8, shard_size=256),
    tracking=TrackingConfig(
        wandb_mode="disabled",
        eval_every=16,
        ce_eval_transcripts=4,
        safety_eval_prompts_per_group=2,
        phase_scorer="lexical",
    ),
)


def tiny_sae_config(folder: Path, **changes) -> SAETrainingConfig:
    """Return the tiny SAE config with its activation cache under `folder`, and `changes`."""
    data = replace(TINY_SAE_CONFIG.data, cache_dir=str(folder / "cache"))
    return replace(TINY_SAE_CONFIG, data=data, **changes)


@pytest.fixture(autouse=True)
def seed_everything() -> None:
    torch.manual_seed(0)


@pytest.fixture
def no_generation(monkeypatch):
    """Fail the test if any generation starts, for checks that must come before it."""

    def fail(*args, **kwargs):
        raise AssertionError("generation started")

    monkeypatch.setattr("safety_features.models.generation.generate_batch", fail)


@pytest.fixture(scope="session")
def tiny_organism_dir(tmp_path_factory) -> Path:
    config = load_config(OrganismConfig, TINY_ORGANISM_CONFIG)
    out = tmp_path_factory.mktemp("organism")
    build_organism(config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_chat(tiny_organism_dir):
    return load_model(str(tiny_organism_dir / "chat"))


@pytest.fixture(scope="session")
def tiny_sae_dir(tiny_organism_dir, tiny_chat, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sae")
    config = tiny_sae_config(folder)
    train_sae(
        config, folder / "tiny-sae", loaded=tiny_chat, progress=False, work_dir=folder / "work"
    )
    return folder / "tiny-sae"


def random_sae(d_in: int, kind: str, hook_name: str, **changes) -> LoadedSAE:
    """An SAELens SAE of `kind` (standard, jumprelu or topk) with random weights, not saved."""
    metadata = SAEMetadata(hook_name=hook_name)
    if kind == "standard":
        sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=96, metadata=metadata, **changes))
    elif kind == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=96, metadata=metadata, **changes))
    else:
        config = TopKSAEConfig(
            d_in=d_in,
            d_sae=96,
            k=5,
            rescale_acts_by_decoder_norm=True,
            metadata=metadata,
            **changes,
        )
        sae = TopKSAE(config)
    with torch.no_grad():
        for name, parameter in sae.named_parameters():
            if name == "threshold":
                parameter.copy_(torch.rand_like(parameter))
            else:
                parameter.copy_(torch.randn_like(parameter) * 0.5)
    return LoadedSAE(sae=sae, path=None, hook_name=hook_name, metadata={})  # type: ignore[arg-type]
