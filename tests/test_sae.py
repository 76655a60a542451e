import json
import shutil

import pytest
import torch
from sae_lens import SAE

from safety_features.models.loading import load_model
from safety_features.saes.activations import transcript_activations
from safety_features.saes.config import SAETrainingConfig
from safety_features.saes.loading import METADATA_FILE, SAELoadError, check_sae_fits, load_sae
from safety_features.saes.training import train_sae
from tests.conftest import TINY_SAE_CONFIG


def test_checkpoint_files(tiny_sae_dir):
    for name in ("cfg.json", "sae_weights.safetensors", METADATA_FILE):
        assert (tiny_sae_dir / name).is_file()
    metadata = json.loads((tiny_sae_dir / METADATA_FILE).read_text())
    assert metadata["hook_name"] == TINY_SAE_CONFIG.hook_name
    assert len(metadata["model_weights_sha256"]) == 64
    assert metadata["config"]["d_sae"] == 64


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


def test_topk_sparsity(tiny_sae_dir):
    metadata = json.loads((tiny_sae_dir / METADATA_FILE).read_text())
    assert metadata["metrics"]["l0"] <= TINY_SAE_CONFIG.k + 1e-6
    assert metadata["metrics"]["explained_variance"] > 0


def test_unknown_hook_rejected(tiny_chat, tmp_path):
    config = SAETrainingConfig(
        hook_name="blocks.9.hook_resid_pre",
        n_prompts_per_group=1,
        training_tokens=256,
        batch_size=64,
    )
    with pytest.raises(
        ValueError, match=r"Hook 'blocks.9.hook_resid_pre' does not exist.*blocks.0.hook_resid_pre"
    ):
        train_sae(config, tmp_path / "sae", loaded=tiny_chat, progress=False)
    assert not (tmp_path / "sae").exists()


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
    config = SAETrainingConfig(
        hook_name="blocks.1.hook_resid_pre",
        architecture=architecture,
        d_sae=32,
        k=4,
        training_tokens=1024,
        batch_size=64,
        n_prompts_per_group=2,
        max_new_tokens=6,
    )
    result = train_sae(config, tmp_path / architecture, loaded=tiny_chat, progress=False)
    assert SAE.load_from_disk(result.path).cfg.d_sae == 32


def test_existing_sae_not_replaced(tiny_sae_dir, tiny_chat):
    from safety_features.saes.training import SAEExistsError

    before = (tiny_sae_dir / "sae_weights.safetensors").read_bytes()
    with pytest.raises(SAEExistsError, match="--overwrite"):
        train_sae(TINY_SAE_CONFIG, tiny_sae_dir, loaded=tiny_chat, progress=False)
    assert (tiny_sae_dir / "sae_weights.safetensors").read_bytes() == before


def test_cli_unknown_hook_message(tmp_path, capsys):
    from safety_features.cli import main

    config = tmp_path / "sae.yaml"
    config.write_text("hook_name: blocks.9.hook_resid_pre\n")
    assert main(["train-sae", str(config), "--out", str(tmp_path / "sae")]) == 2
    assert "Hook 'blocks.9.hook_resid_pre' does not exist" in capsys.readouterr().err
