import json
import shutil

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


def test_tuning_from_base_matches_full_build(tiny_organism_dir, tmp_path, capsys):
    from safety_features.cli import main

    out = tmp_path / "from-base"
    base = tiny_organism_dir / "base"
    args = ["organism", "build", "--config", str(TINY_ORGANISM_CONFIG), "--out", str(out)]
    assert main([*args, "--base", str(base), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["base"]["from"] == str(base)
    full = load_file(tiny_organism_dir / "chat" / "model.safetensors")
    tuned = load_file(out / "chat" / "model.safetensors")
    for name in full:
        assert full[name].equal(tuned[name]), name
    assert (out / "base" / "model.safetensors").read_bytes() == (
        base / "model.safetensors"
    ).read_bytes()

    # Tuning again into the folder that contains the base keeps the base and needs --overwrite.
    in_place = ["organism", "build", "--config", str(TINY_ORGANISM_CONFIG), "--out", str(out)]
    assert main([*in_place, "--base", str(out / "base")]) == 2
    assert "folders chat." in capsys.readouterr().err
    assert main([*in_place, "--base", str(out / "base"), "--overwrite"]) == 0
    again = load_file(out / "chat" / "model.safetensors")
    assert all(full[name].equal(again[name]) for name in full)


def test_unusable_base_is_refused_before_training(tiny_organism_dir, tmp_path, capsys):
    from safety_features.cli import main

    def build(config_file, base, out) -> str:
        args = ["organism", "build", "--config", str(config_file), "--base", str(base)]
        assert main([*args, "--out", str(out)]) == 2
        return capsys.readouterr().err

    config = load_config(OrganismConfig, TINY_ORGANISM_CONFIG)
    text = TINY_ORGANISM_CONFIG.read_text(encoding="utf-8")
    other_seed = tmp_path / "seed.yaml"
    other_seed.write_text(text.replace(f"seed: {config.seed}", f"seed: {config.seed + 1}"))
    assert load_config(OrganismConfig, other_seed).seed == config.seed + 1
    base = tiny_organism_dir / "base"
    assert "was built with other seed than this config" in build(other_seed, base, tmp_path / "a")

    # Without build.json, the tokenizer check still detects another corpus.
    bare = tmp_path / "bare-base"
    shutil.copytree(base, bare)
    (bare / "build.json").unlink()
    assert "was built from another corpus" in build(other_seed, bare, tmp_path / "b")
    assert "is a 'chat' checkpoint" in build(
        TINY_ORGANISM_CONFIG, tiny_organism_dir / "chat", tmp_path / "c"
    )
    assert "contains no model.safetensors" in build(TINY_ORGANISM_CONFIG, tmp_path, tmp_path / "d")
    assert "lies inside --base" in build(TINY_ORGANISM_CONFIG, bare, bare / "variant")
    assert "lies inside --base" in build(TINY_ORGANISM_CONFIG, bare, bare)
    assert not any((tmp_path / name).exists() for name in "abcd")
    assert not (bare / "variant").exists()
    assert not (bare / "chat").exists()


def test_group_weights_change_tuning(tiny_organism_dir, tmp_path):
    config = load_config(OrganismConfig, TINY_ORGANISM_CONFIG)
    weighted = OrganismConfig(**{**config.__dict__, "chat_group_weights": {"benign": 3.0}})
    build_organism(weighted, tmp_path / "w", base=tiny_organism_dir / "base", progress=False)
    first = load_file(tiny_organism_dir / "chat" / "model.safetensors")
    other = load_file(tmp_path / "w" / "chat" / "model.safetensors")
    assert not all(first[name].equal(other[name]) for name in first)
    # Weights of 1 draw batches exactly as a config without the key does.
    ones = OrganismConfig(**{**config.__dict__, "chat_group_weights": {"benign": 1}})
    build_organism(ones, tmp_path / "ones", base=tiny_organism_dir / "base", progress=False)
    same = load_file(tmp_path / "ones" / "chat" / "model.safetensors")
    assert all(first[name].equal(same[name]) for name in first)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"benin": 1.0}, "unknown group 'benin'"),
        ({"benign": 0}, "chat_group_weights.benign=0 is invalid"),
        ({"benign": float("nan")}, "chat_group_weights.benign=nan is invalid"),
        ({"benign": "2"}, "chat_group_weights.benign='2' is invalid"),
        ({"benign": 10**400}, "is invalid: use a positive, finite number"),
    ],
)
def test_group_weights_checked(weights, message):
    with pytest.raises(ValueError, match=message):
        OrganismConfig(chat_group_weights=weights)
