import json

import pytest
from safetensors.torch import load_file
from transformers import AutoTokenizer

from safety_features.config import load_config
from safety_features.files import atomic_directory
from safety_features.organism.config import OrganismConfig
from safety_features.organism.train import build_organism
from tests.conftest import TINY_ORGANISM_CONFIG


def test_checkpoint_layout(tiny_organism_dir):
    for variant in ("base", "chat"):
        folder = tiny_organism_dir / variant
        for name in (
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "build.json",
        ):
            assert (folder / name).is_file(), f"{variant}/{name}"
        assert "<|assistant|>" in AutoTokenizer.from_pretrained(folder).chat_template
    info = json.loads((tiny_organism_dir / "build.json").read_text())
    assert info["corpus"]["chat_examples"] == 200
    assert info["chat"]["final_loss"] < info["chat"]["first_loss"]


def test_build_deterministic(tiny_organism_dir, tmp_path):
    config = load_config(OrganismConfig, TINY_ORGANISM_CONFIG)
    build_organism(config, tmp_path / "again", progress=False)
    first = load_file(tiny_organism_dir / "chat" / "model.safetensors")
    again = load_file(tmp_path / "again" / "chat" / "model.safetensors")
    assert first.keys() == again.keys()
    for name in first:
        assert first[name].equal(again[name]), name
    assert (tiny_organism_dir / "chat" / "tokenizer.json").read_text() == (
        tmp_path / "again" / "chat" / "tokenizer.json"
    ).read_text()


def test_other_seed_differs(tiny_organism_dir, tmp_path):
    config = load_config(OrganismConfig, TINY_ORGANISM_CONFIG)
    build_organism(
        OrganismConfig(**{**config.__dict__, "seed": 1}), tmp_path / "other", progress=False
    )
    first = load_file(tiny_organism_dir / "chat" / "model.safetensors")
    other = load_file(tmp_path / "other" / "chat" / "model.safetensors")
    assert not all(first[name].equal(other[name]) for name in first)


def test_failed_write_keeps_old_folder(tmp_path):
    target = tmp_path / "chat"
    target.mkdir()
    (target / "model.safetensors").write_text("old weights")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_directory(target) as folder:
            (folder / "model.safetensors").write_text("half")
            raise RuntimeError("disk full")
    assert (target / "model.safetensors").read_text() == "old weights"
    assert [p.name for p in tmp_path.iterdir()] == ["chat"]


def test_successful_write_replaces_folder(tmp_path):
    target = tmp_path / "chat"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_directory(target) as folder:
        (folder / "model.safetensors").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors"]
    assert [p.name for p in tmp_path.iterdir()] == ["chat"]


def test_build_keeps_existing_checkpoints(tmp_path, capsys):
    from safety_features.cli import main

    (tmp_path / "chat").mkdir()
    (tmp_path / "chat" / "config.json").write_text("{}")
    assert (
        main(["organism", "build", "--config", str(TINY_ORGANISM_CONFIG), "--out", str(tmp_path)])
        == 2
    )
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "chat" / "config.json").read_text() == "{}"
    assert not (tmp_path / "base").exists()
