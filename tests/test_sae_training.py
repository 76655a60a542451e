"""The parts of an SAE run around SAELens: cache, stream, checkpoints, resume, W&B, releases."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
import yaml
from sae_lens import SAE, StandardSAE, StandardSAEConfig
from safetensors.torch import load_file, save_file

from safety_features.config import config_to_dict
from safety_features.models.loading import REPOSITORY_ROOT
from safety_features.phases.detect import PhaseDetector
from safety_features.saes import checkpoints as checkpoint_module
from safety_features.saes import training as training_module
from safety_features.saes.cache import ActivationCache, check_finite, open_or_build_cache
from safety_features.saes.checkpoints import join_tensors, split_tensors
from safety_features.saes.loading import SAELoadError, load_pretrained_sae
from safety_features.saes.stream import ActivationStream
from safety_features.saes.tracking import start_tracking
from safety_features.saes.training import SAEExistsError, SAESaveError, train_sae
from tests.conftest import TINY_SAE_CONFIG, tiny_sae_config


def fake_cache(tmp_path, sizes, d_in=3) -> ActivationCache:
    """A cache folder whose rows are numbered, so batches can be traced to their rows."""
    shards, start = [], 0
    for index, size in enumerate(sizes):
        rows = torch.arange(start, start + size, dtype=torch.float32)[:, None].repeat(1, d_in)
        save_file({"activations": rows}, tmp_path / f"train-{index:05d}.safetensors")
        shards.append({"file": f"train-{index:05d}.safetensors", "rows": size})
        start += size
    (tmp_path / "manifest.json").write_text(json.dumps({"d_in": d_in, "shards": shards}))
    return ActivationCache(tmp_path)


def row_ids(batch: torch.Tensor) -> list[int]:
    return batch[:, 0].long().tolist()


def test_stream_visits_every_row_once_per_epoch(tmp_path):
    cache = fake_cache(tmp_path, [10, 7, 10, 3])
    stream = ActivationStream(cache, batch_size=6, seed=1, buffer_shards=2)
    seen = [i for _ in range(5) for i in row_ids(next(stream))]  # 30 rows: exactly one epoch
    assert sorted(seen) == list(range(30))
    assert seen != list(range(30))


def test_stream_resumes_at_any_step(tmp_path):
    cache = fake_cache(tmp_path, [10, 7, 10, 3])
    full = ActivationStream(cache, batch_size=4, seed=3, buffer_shards=2)
    batches = [row_ids(next(full)) for _ in range(25)]  # more than three epochs
    for start in (1, 7, 8, 16, 24):
        resumed = ActivationStream(cache, batch_size=4, seed=3, buffer_shards=2, start_step=start)
        assert [row_ids(next(resumed)) for _ in range(25 - start)] == batches[start:]


def test_stream_memory_is_one_group_of_shards(tmp_path, monkeypatch):
    cache = fake_cache(tmp_path, [5] * 8)
    loaded_at_once, load = [], cache.load_shard

    def counting_load(index):
        loaded_at_once.append(index)
        return load(index)

    monkeypatch.setattr(cache, "load_shard", counting_load)
    stream = ActivationStream(cache, batch_size=5, seed=0, buffer_shards=2)
    next(stream)
    assert len(loaded_at_once) == 2
    for _ in range(7):
        next(stream)
    assert len(loaded_at_once) == 8


def test_checkpoint_state_round_trip():
    state = {
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}}},
        "betas": (0.9, 0.999),
        "names": ["a", None, True],
        "lr": 1e-3,
    }
    tensors: dict = {}
    data = split_tensors(state, tensors)
    restored = join_tensors(json.loads(json.dumps(data)), tensors)
    assert restored["betas"] == (0.9, 0.999)
    assert list(restored["optimizer"]["state"]) == [0]
    assert torch.equal(restored["optimizer"]["state"][0]["exp_avg"], torch.ones(2))
    assert restored["names"] == ["a", None, True]
    assert restored["lr"] == 1e-3


def test_non_finite_activations_named():
    with pytest.raises(
        FloatingPointError, match=r"blocks.0.hook_resid_pre contain NaN or inf in 1"
    ):
        check_finite(torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), "blocks.0.hook_resid_pre")


def test_cache_is_reused_and_keyed(tiny_chat, tmp_path):
    config = tiny_sae_config(tmp_path)
    detector = PhaseDetector(tiny_chat.tokenizer, scorer="lexical")
    first = open_or_build_cache(tiny_chat, config.hook_name, config.data, 0, detector, False)
    written = (first.path / "manifest.json").stat().st_mtime_ns
    again = open_or_build_cache(tiny_chat, config.hook_name, config.data, 0, detector, False)
    assert again.path == first.path
    assert (again.path / "manifest.json").stat().st_mtime_ns == written
    other = open_or_build_cache(
        tiny_chat, "blocks.0.hook_resid_pre", config.data, 0, detector, False
    )
    assert other.path != first.path

    assert all(size == config.data.shard_size for size in first.shard_sizes[:-1])
    assert sum(first.shard_sizes) == first.n_train
    evaluation = first.eval_activations()
    assert len(evaluation.activations) == len(evaluation.in_safety_phase)
    assert not (evaluation.in_safety_phase & ~evaluation.in_response).any()
    # Evaluation transcripts are held out whole: no training transcript is among them.
    assert first.manifest["n_train_transcripts"] + len(first.eval_transcripts()) == 5 * 8


def test_template_masking_and_assistant_only(tiny_chat, tmp_path):
    detector = PhaseDetector(tiny_chat.tokenizer, scorer="lexical")
    hook = TINY_SAE_CONFIG.hook_name
    counts = {}
    for name, changes in {
        "all": {},
        "no_template": {"mask_template_tokens": True},
        "assistant": {"assistant_only": True},
    }.items():
        data = replace(TINY_SAE_CONFIG.data, cache_dir=str(tmp_path / "cache"), **changes)
        cache = open_or_build_cache(tiny_chat, hook, data, 0, detector, False)
        transcripts = cache.eval_transcripts()
        counts[name] = sum(sum(t.keep) for t in transcripts)
        special = set(tiny_chat.tokenizer.all_special_ids)
        kept = [tok for t in transcripts for tok, k in zip(t.token_ids, t.keep, strict=True) if k]
        if name == "no_template":
            assert not special & set(kept)
        if name == "assistant":
            assert all(not any(t.keep[: t.n_prompt_tokens]) for t in transcripts)
            assert cache.eval_activations().in_response.all()
    assert counts["all"] > counts["no_template"] > counts["assistant"] > 0


def write_config(path, config) -> None:
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "safety_features.cli", "train-sae", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPOSITORY_ROOT)


def test_killed_run_resumes_to_identical_weights(tiny_organism_dir, tiny_chat, tmp_path):
    config = tiny_sae_config(
        tmp_path,
        model=str(tiny_organism_dir / "chat"),
        training_tokens=64 * 1500,
        batch_size=64,
        checkpoint_every=40,
        tracking=replace(
            TINY_SAE_CONFIG.tracking, log_every=10, eval_every=1000, safety_eval_prompts_per_group=0
        ),
    )
    config_file = tmp_path / "sae.yaml"
    write_config(config_file, config)
    # The uninterrupted run builds the shared activation cache, so all runs read the same data.
    run_cli(str(config_file), "--out", str(tmp_path / "whole"), "--work-dir", str(tmp_path / "w1"))

    work = tmp_path / "w2"
    command = [sys.executable, "-m", "safety_features.cli", "train-sae", str(config_file)]
    killed = subprocess.Popen(
        [*command, "--out", str(tmp_path / "resumed"), "--work-dir", str(work)],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not list((work / "checkpoints").glob("step-*")) and killed.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "resumed").exists()

    resumed = run_cli(
        str(config_file),
        "--out",
        str(tmp_path / "resumed"),
        "--work-dir",
        str(work),
        "--resume",
        "--json",
    )
    summary = json.loads(resumed.stdout)
    assert 0 < summary["resumed_from_step"] < 1500
    assert summary["steps"] == 1500
    whole = load_file(tmp_path / "whole" / "sae_weights.safetensors")
    again = load_file(tmp_path / "resumed" / "sae_weights.safetensors")
    assert whole.keys() == again.keys()
    for name in whole:
        assert torch.equal(whole[name], again[name]), name
    logged = [json.loads(line) for line in (work / "history.jsonl").open()]
    train_steps = [line["step"] for line in logged if "losses/overall_loss" in line]
    assert train_steps == list(range(9, 1500, 10))
    assert not (work / "checkpoints").exists()


def test_resume_refuses_changed_config(tiny_chat, tmp_path):
    config = tiny_sae_config(tmp_path, checkpoint_every=4, training_tokens=128 * 12)
    work = tmp_path / "work"
    checkpoint = work / "checkpoints" / "step-00000004"
    checkpoint.mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(config_to_dict(config)))
    changed = replace(config, d_sae=32)
    with pytest.raises(SAEExistsError, match=r"differs .* \(d_sae: 64 saved, 32 now; saved in"):
        train_sae(changed, tmp_path / "sae", loaded=tiny_chat, work_dir=work, resume=True)
    with pytest.raises(SAEExistsError, match="Pass --resume"):
        train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=work)
    assert checkpoint.is_dir()


def test_full_disk_keeps_previous_checkpoint(tiny_chat, tmp_path, monkeypatch):
    config = tiny_sae_config(tmp_path, checkpoint_every=4, training_tokens=128 * 12)
    calls = []
    real_save = checkpoint_module.save_file

    def save_until_full(tensors, path):
        calls.append(path)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(tensors, path)

    monkeypatch.setattr(checkpoint_module, "save_file", save_until_full)
    work = tmp_path / "work"
    with pytest.raises(SAESaveError, match="No space left on device.*--resume"):
        train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=work, progress=False)
    folders = sorted(p.name for p in (work / "checkpoints").iterdir())
    assert folders == ["step-00000004"]
    assert set(os.listdir(work / "checkpoints" / "step-00000004")) == {
        "state.safetensors",
        "state.json",
    }
    assert not (tmp_path / "sae").exists()


def test_full_disk_leaves_no_sae_folder(tiny_chat, tmp_path, monkeypatch):
    def full(tensors, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training_module, "save_file", full)
    config = tiny_sae_config(tmp_path, training_tokens=128 * 4)
    with pytest.raises(SAESaveError, match="nothing was left there"):
        train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=tmp_path / "w")
    assert not (tmp_path / "sae").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sae")] == []


def test_wandb_offline_run_records_metrics(tiny_chat, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    tracking = replace(TINY_SAE_CONFIG.tracking, wandb_mode="offline", eval_every=8, log_every=4)
    config = tiny_sae_config(tmp_path, tracking=tracking, training_tokens=128 * 16)
    result = train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=tmp_path / "w")
    assert result.wandb_run_dir is not None
    (run_file,) = (tmp_path / "w" / "wandb").glob("offline-run-*/run-*.wandb")
    recorded = run_file.read_bytes()
    for key in (
        b"losses/overall_loss",
        b"metrics/explained_variance",
        b"sparsity/dead_features",
        b"eval/ce_loss_score",
        b"eval/explained_variance_safety",
        b"final/safety_phase_rate_change",
        b"d_sae",
    ):
        assert key in recorded, key


def test_unavailable_wandb_does_not_stop_training(tiny_chat, tmp_path, monkeypatch, caplog):
    # Online mode without an API key fails at start; the address is a closed loopback port so
    # nothing is ever sent elsewhere.
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    tracking = replace(TINY_SAE_CONFIG.tracking, wandb_mode="online", log_every=4)
    config = tiny_sae_config(tmp_path, tracking=tracking, training_tokens=128 * 8)
    with caplog.at_level("WARNING"):
        result = train_sae(config, tmp_path / "sae", loaded=tiny_chat, work_dir=tmp_path / "w")
    assert "W&B could not start in online mode" in caplog.text
    assert result.wandb_run_dir is None
    assert (result.path / "sae_weights.safetensors").is_file()
    assert (tmp_path / "w" / "history.jsonl").read_text().count("losses/overall_loss") == 2


def test_tracker_survives_failing_log(tmp_path, caplog):
    class BrokenRun:
        id, dir = "x", str(tmp_path / "run" / "files")

        def log(self, values, step):
            raise ConnectionError("lost")

    tracker = start_tracking("disabled", "p", "n", {}, tmp_path)
    tracker.run = BrokenRun()
    with caplog.at_level("WARNING"):
        tracker.log({"a": 1.0}, step=0)
    assert "W&B failed to log" in caplog.text
    assert not tracker.active
    assert json.loads((tmp_path / "history.jsonl").read_text()) == {"step": 0, "a": 1.0}


def write_hub_release(cache_root, repo_id: str, folder: str, sae: SAE) -> None:
    """Lay out `sae` in a local Hugging Face cache as if `SAE.from_pretrained` had fetched it."""
    repo = cache_root / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    sae.save_model(repo / "snapshots" / commit / folder)


def test_pretrained_release_loads_by_name_from_local_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    offline_before = constants.HF_HUB_OFFLINE
    torch.manual_seed(0)
    config = StandardSAEConfig(d_in=16, d_sae=32)
    config.metadata.hook_name = "blocks.0.hook_resid_pre"
    written = StandardSAE(config)
    with torch.no_grad():
        for parameter in written.parameters():
            parameter.normal_()
    # A release from SAELens' own directory, resolved by name to its repository and folder.
    write_hub_release(
        tmp_path / "hub", "jbloom/GPT2-Small-SAEs-Reformatted", "blocks.0.hook_resid_pre", written
    )
    loaded = load_pretrained_sae("gpt2-small-res-jb", "blocks.0.hook_resid_pre")
    assert loaded.hook_name == "blocks.0.hook_resid_pre"
    x = torch.randn(5, 16)
    with torch.no_grad():
        assert torch.allclose(loaded.sae.encode(x), written.encode(x))
    assert constants.HF_HUB_OFFLINE == offline_before

    with pytest.raises(SAELoadError, match="blocks.5.hook_resid_pre.*local Hugging Face cache"):
        load_pretrained_sae("gpt2-small-res-jb", "blocks.5.hook_resid_pre")


def test_resume_replays_history_to_wandb(tmp_path):
    class RecordingRun:
        id, dir = "x", str(tmp_path / "run" / "files")

        def __init__(self):
            self.logged = []

        def log(self, values, step):
            self.logged.append((step, values))

    history = tmp_path / "history.jsonl"
    history.write_text('{"step": 9, "losses/overall_loss": 2.5}\n{"step": 19, "eval/x": null}\n')
    tracker = start_tracking("disabled", "p", "n", {}, tmp_path)
    tracker.run = RecordingRun()
    training_module.replay_history(tracker, history)
    assert tracker.run.logged == [(9, {"losses/overall_loss": 2.5}), (19, {})]
    assert history.read_text().count("\n") == 2
