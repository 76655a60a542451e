import json
import os
import shutil
from dataclasses import replace

import pytest
import torch
from sae_lens import SAE
from safetensors.torch import load_file

from safety_features.models.loading import load_model
from safety_features.saes.activations import transcript_activations
from safety_features.saes.config import ActivationDataConfig, SAETrainingConfig, TrackingConfig
from safety_features.saes.loading import METADATA_FILE, SAELoadError, check_sae_fits, load_sae
from safety_features.saes.training import SAEExistsError, check_loss, train_sae
from tests.conftest import TINY_SAE_CONFIG, tiny_sae_config


def test_checkpoint_files(tiny_sae_dir):
    for name in ("cfg.json", "sae_weights.safetensors", "sparsity.safetensors", METADATA_FILE):
        assert (tiny_sae_dir / name).is_file()
    metadata = json.loads((tiny_sae_dir / METADATA_FILE).read_text())
    assert metadata["hook_name"] == TINY_SAE_CONFIG.hook_name
    assert len(metadata["model_weights_sha256"]) == 64
    assert metadata["config"]["d_sae"] == 64
    assert metadata["config"]["data"]["shard_size"] == 256
    assert metadata["data"]["n_training_rows"] > 0
    sparsity = load_file(tiny_sae_dir / "sparsity.safetensors")["sparsity"]
    assert sparsity.shape == (64,)
    umask = os.umask(0)
    os.umask(umask)
    mode = (tiny_sae_dir / "sae_weights.safetensors").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask


def test_sae_lens_reads_same_features(tiny_sae_dir, tiny_chat):
    ours = load_sae(tiny_sae_dir)
    theirs = SAE.load_from_disk(tiny_sae_dir)
    tokens = [
        list(tiny_chat.model.to_tokens(tiny_chat.format_prompt("how do I bake bread"))[0].tolist())
    ]
    activations = transcript_activations(
        tiny_chat, ours.hook_name, tokens, [[True] * len(tokens[0])], progress=False
    )
    with torch.no_grad():
        assert torch.equal(ours.sae.encode(activations), theirs.encode(activations))
    assert theirs.cfg.metadata.hook_name == TINY_SAE_CONFIG.hook_name


@pytest.fixture(scope="module")
def organism_sae_metrics(tmp_path_factory) -> dict:
    """Metrics of a small SAE on the shipped organism, whose loss and safety phases are real."""
    folder = tmp_path_factory.mktemp("organism-sae")
    config = SAETrainingConfig(
        run_name="small",
        d_sae=256,
        k=16,
        training_tokens=256 * 200,
        batch_size=256,
        data=ActivationDataConfig(n_prompts_per_group=16, cache_dir=str(folder / "cache")),
        tracking=TrackingConfig(
            wandb_mode="disabled", safety_eval_prompts_per_group=4, phase_scorer="lexical"
        ),
    )
    result = train_sae(config, folder / "sae", work_dir=folder / "work", progress=False)
    return json.loads((result.path / METADATA_FILE).read_text())["metrics"]


def test_metrics_recorded(organism_sae_metrics):
    metrics = organism_sae_metrics
    assert metrics["l0"] <= 16 + 1e-6
    assert 0 < metrics["explained_variance"] <= 1
    # Splicing in a trained SAE must cost less than deleting the activation.
    assert metrics["ce_loss_with_sae"] < metrics["ce_loss_zero_ablated"]
    recovered = metrics["ce_loss_zero_ablated"] - metrics["ce_loss_with_sae"]
    removed = metrics["ce_loss_zero_ablated"] - metrics["ce_loss_clean"]
    assert metrics["ce_loss_score"] == pytest.approx(recovered / removed)
    assert metrics["ce_loss_score"] > 0.5
    assert metrics["n_safety"] > 0
    assert metrics["n_other"] > 0
    for key in ("explained_variance_safety", "explained_variance_other"):
        assert metrics[key] <= 1
    change = metrics["safety_phase_rate_with_sae"] - metrics["safety_phase_rate_clean"]
    assert metrics["safety_phase_rate_change"] == pytest.approx(change)
    for key in ("dead_fraction", "dead_fraction_training", "dead_fraction_training_rows"):
        assert 0 <= metrics[key] <= 1, key


def test_unknown_hook_rejected(tiny_chat, tmp_path):
    config = tiny_sae_config(tmp_path, hook_name="blocks.9.hook_resid_pre")
    with pytest.raises(
        ValueError, match=r"Hook 'blocks.9.hook_resid_pre' does not exist.*blocks.0.hook_resid_pre"
    ):
        train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=tmp_path / "work")
    assert not (tmp_path / "sae").exists()
    assert not (tmp_path / "work").exists()


def test_missing_sae_folder(tmp_path):
    with pytest.raises(SAELoadError, match="missing cfg.json"):
        load_sae(tmp_path)


def test_corrupt_cfg_rejected(tiny_sae_dir, tmp_path):
    other = tmp_path / "sae"
    shutil.copytree(tiny_sae_dir, other)
    cfg = json.loads((other / "cfg.json").read_text())
    cfg["d_in"] = 99
    (other / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(SAELoadError, match="could not be loaded"):
        load_sae(other)


def test_width_mismatch_rejected(tiny_sae_dir):
    # The tiny SAE reads a 32-wide residual stream; the shipped organism's is 160 wide.
    with pytest.raises(SAELoadError, match=r"d_in=32 but organism:chat has d_model=160"):
        check_sae_fits(load_sae(tiny_sae_dir), load_model("organism:chat"))


def test_other_model_rejected(tiny_sae_dir, tiny_chat, tmp_path):
    other = tmp_path / "sae"
    shutil.copytree(tiny_sae_dir, other)
    metadata = json.loads((other / METADATA_FILE).read_text())
    metadata["model_weights_sha256"] = "0" * 64
    (other / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(SAELoadError, match="retrain the SAE on this model"):
        check_sae_fits(load_sae(other), tiny_chat)


@pytest.mark.parametrize("architecture", ["standard", "batchtopk", "jumprelu"])
def test_other_architectures_train(architecture, tiny_chat, tmp_path):
    config = tiny_sae_config(
        tmp_path,
        architecture=architecture,
        d_sae=32,
        training_tokens=1024,
        batch_size=64,
        tracking=replace(TINY_SAE_CONFIG.tracking, safety_eval_prompts_per_group=0),
    )
    result = train_sae(
        config, tmp_path / architecture, loaded=tiny_chat, progress=False, work_dir=tmp_path / "w"
    )
    loaded = SAE.load_from_disk(result.path)
    assert loaded.cfg.d_sae == 32
    # SAELens saves a BatchTopK SAE for inference as JumpReLU, with its learned threshold.
    inference = {"batchtopk": "jumprelu"}.get(architecture, architecture)
    assert loaded.cfg.architecture() == inference
    assert loaded.cfg.metadata.training_architecture == architecture
    assert result.steps == 1024 // 64


def test_existing_sae_not_replaced(tiny_sae_dir, tiny_chat, tmp_path):
    before = (tiny_sae_dir / "sae_weights.safetensors").read_bytes()
    with pytest.raises(SAEExistsError, match="--overwrite"):
        train_sae(
            tiny_sae_config(tmp_path), tiny_sae_dir, loaded=tiny_chat, work_dir=tmp_path / "w"
        )
    assert (tiny_sae_dir / "sae_weights.safetensors").read_bytes() == before


def test_cli_unknown_hook_message(tmp_path, capsys):
    from safety_features.cli import main

    config = tmp_path / "sae.yaml"
    config.write_text("hook_name: blocks.9.hook_resid_pre\n")
    out, work = str(tmp_path / "sae"), str(tmp_path / "work")
    assert main(["train-sae", str(config), "--out", out, "--work-dir", work]) == 2
    assert "Hook 'blocks.9.hook_resid_pre' does not exist" in capsys.readouterr().err


def test_diverged_loss_named():
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 7.*Lower learning_rate"):
        check_loss(torch.tensor(float("nan")), 7, TINY_SAE_CONFIG)


def test_nan_activations_stop_before_training(tiny_organism_dir, tmp_path):
    broken = load_model(str(tiny_organism_dir / "chat"))
    with torch.no_grad():
        broken.model.blocks[0].attn.W_O[0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        train_sae(
            tiny_sae_config(tmp_path), tmp_path / "sae", loaded=broken, work_dir=tmp_path / "w"
        )
    assert not (tmp_path / "sae").exists()
    assert not list((tmp_path / "cache").glob("*/manifest.json"))


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="architecture='relu' is invalid"):
        SAETrainingConfig(architecture="relu")
    with pytest.raises(ValueError, match="wandb_mode='cloud' is invalid"):
        TrackingConfig(wandb_mode="cloud")
    with pytest.raises(ValueError, match="run_name='../x' is invalid"):
        SAETrainingConfig(run_name="../x")
