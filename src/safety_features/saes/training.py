"""Train an SAE with SAELens on residual-stream activations from chat transcripts.

SAELens supplies the architecture and the training step (`SAETrainer.step`, with its
optimizer, schedulers and dead-feature statistics). This module supplies the rest of a run:

1. the activation cache (`saes.cache`), built once and shared by runs with the same data;
2. batches streamed from it (`saes.stream`), resumable at any step;
3. the loop: train steps, W&B logs, evaluations on held-out transcripts, checkpoints;
4. the final evaluation, with the safety metrics;
5. the checkpoint in SAELens' on-disk format plus a metadata file of our own.

A run has two folders: the checkpoint folder (`checkpoints/saes/<run_name>` unless given),
written whole at the end, and a work folder (`runs/saes/<run_name>` unless given) with the
resolved config, resumable checkpoints and the offline W&B run.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from sae_lens import (
    BatchTopKTrainingSAE,
    BatchTopKTrainingSAEConfig,
    JumpReLUTrainingSAE,
    JumpReLUTrainingSAEConfig,
    LoggingConfig,
    SAETrainer,
    StandardTrainingSAE,
    StandardTrainingSAEConfig,
    TopKTrainingSAE,
    TopKTrainingSAEConfig,
)
from sae_lens.config import SAETrainerConfig
from sae_lens.saes.sae import SAEMetadata
from safetensors.torch import save_file
from tqdm.auto import tqdm

from safety_features.config import config_to_dict
from safety_features.files import atomic_directory, write_json_atomic, write_text_atomic
from safety_features.models.loading import REPOSITORY_ROOT, LoadedModel, load_model
from safety_features.phases.detect import PhaseDetector
from safety_features.saes.activations import check_hook_name
from safety_features.saes.cache import ActivationCache, open_or_build_cache
from safety_features.saes.checkpoints import checkpoint_folders, load_checkpoint, save_checkpoint
from safety_features.saes.config import SAETrainingConfig
from safety_features.saes.evaluation import SAEEvaluator
from safety_features.saes.loading import METADATA_FILE
from safety_features.saes.stream import ActivationStream
from safety_features.saes.tracking import HISTORY_FILE, Tracker, numeric, start_tracking

logger = logging.getLogger(__name__)

SPARSITY_FILE = "sparsity.safetensors"


class SAEExistsError(RuntimeError):
    """An output folder that already contains an SAE, or a run that would lose checkpoints."""


class SAESaveError(RuntimeError):
    """A checkpoint that could not be written (for example, a full disk)."""


@dataclass(frozen=True)
class RunPaths:
    out: Path
    """Final checkpoint folder."""
    work: Path
    """Resolved config, resumable checkpoints, W&B files."""

    @property
    def checkpoints(self) -> Path:
        return self.work / "checkpoints"

    @classmethod
    def of(
        cls, config: SAETrainingConfig, out: str | Path | None, work: str | Path | None
    ) -> RunPaths:
        return cls(
            Path(out) if out else REPOSITORY_ROOT / "checkpoints" / "saes" / config.run_name,
            Path(work) if work else REPOSITORY_ROOT / "runs" / "saes" / config.run_name,
        )


@dataclass(frozen=True)
class SAETrainingResult:
    path: Path
    work_dir: Path
    metrics: dict[str, float]
    n_training_rows: int
    steps: int
    resumed_from_step: int
    seconds: float
    wandb_run_dir: str | None


def make_training_sae(config: SAETrainingConfig, d_in: int, model_name: str):
    metadata = SAEMetadata(hook_name=config.hook_name, model_name=model_name)
    common = {"d_in": d_in, "d_sae": config.d_sae, "metadata": metadata}
    if config.architecture == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=config.k, **common))
    if config.architecture == "batchtopk":
        return BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=config.k, **common))
    if config.architecture == "jumprelu":
        return JumpReLUTrainingSAE(
            JumpReLUTrainingSAEConfig(l0_coefficient=config.l1_coefficient, **common)
        )
    return StandardTrainingSAE(
        StandardTrainingSAEConfig(l1_coefficient=config.l1_coefficient, **common)
    )


def make_trainer(config: SAETrainingConfig, sae, device: str) -> SAETrainer:
    """Build the SAELens trainer whose steps this module drives. It logs and saves nothing itself."""
    steps = config.total_steps
    trainer_config = SAETrainerConfig(
        total_training_samples=steps * config.batch_size,
        train_batch_size_samples=config.batch_size,
        lr=config.learning_rate,
        lr_end=config.learning_rate,
        lr_warm_up_steps=max(1, steps // 20),
        lr_decay_steps=int(steps * config.lr_decay_fraction),
        lr_scheduler_name="constant",
        device=device,
        dead_feature_window=max(50, steps // 10),
        feature_sampling_window=max(100, steps // 5),
        logger=LoggingConfig(log_to_wandb=False),
    )
    # The data provider is set by the caller; SAETrainer.fit, its only reader, is not used.
    return SAETrainer(trainer_config, sae, data_provider=iter(()))


def prepare_run(config: SAETrainingConfig, paths: RunPaths, overwrite: bool, resume: bool) -> None:
    """Refuse to replace an SAE or drop checkpoints unasked; record the resolved config."""
    if (paths.out / "cfg.json").exists() and not overwrite:
        raise SAEExistsError(
            f"SAE folder {paths.out} already contains an SAE (cfg.json). "
            "Pass another --out folder, or --overwrite to replace it."
        )
    saved_config = paths.work / "config.json"
    if checkpoint_folders(paths.checkpoints):
        if resume:
            check_same_run(config, saved_config)
            return
        if not overwrite:
            raise SAEExistsError(
                f"Run {config.run_name} has checkpoints in {paths.checkpoints}. Pass --resume to "
                "continue it, or --overwrite to start again and delete them."
            )
        shutil.rmtree(paths.checkpoints)
    (paths.work / HISTORY_FILE).unlink(missing_ok=True)
    write_json_atomic(saved_config, config_to_dict(config))


def check_same_run(config: SAETrainingConfig, saved_config: Path) -> None:
    """A resumed run must train exactly what was checkpointed; only tracking may change."""
    saved = json.loads(saved_config.read_text()) if saved_config.is_file() else {}
    current = config_to_dict(config)
    differing = sorted(
        key
        for key in set(saved) | set(current)
        if key != "tracking" and saved.get(key) != current.get(key)
    )
    if differing:
        changes = "; ".join(
            f"{key}: {saved.get(key)!r} saved, {current.get(key)!r} now" for key in differing
        )
        raise SAEExistsError(
            f"Cannot resume: the config differs from the checkpointed run ({changes}; saved in "
            f"{saved_config}). Use the same config, or --overwrite to start again."
        )


def train_sae(
    config: SAETrainingConfig,
    out_dir: str | Path | None = None,
    loaded: LoadedModel | None = None,
    progress: bool = True,
    overwrite: bool = False,
    resume: bool = False,
    work_dir: str | Path | None = None,
    detector: PhaseDetector | None = None,
) -> SAETrainingResult:
    """Train an SAE and write it to `out_dir` (cfg.json, sae_weights.safetensors, sparsity,
    our metadata); with `resume`, continue from the work folder's last checkpoint.

    An SAE already in `out_dir` is replaced only with `overwrite`, and only once training has
    finished.
    """
    start = time.perf_counter()
    paths = RunPaths.of(config, out_dir, work_dir)
    loaded = loaded or load_model(config.model)
    check_hook_name(loaded, config.hook_name)
    prepare_run(config, paths, overwrite, resume)
    torch.manual_seed(config.seed)
    detector = detector or PhaseDetector(loaded.tokenizer, scorer=config.tracking.phase_scorer)
    cache = open_or_build_cache(
        loaded, config.hook_name, config.data, config.seed, detector, progress
    )

    sae = make_training_sae(config, d_in=cache.d_in, model_name=loaded.name)
    trainer = make_trainer(config, sae, str(loaded.model.cfg.device))
    start_step, wandb_id = restore(trainer, paths, resume)
    trainer.data_provider = ActivationStream(
        cache, config.batch_size, config.seed, config.data.buffer_shards, start_step
    )
    evaluator = SAEEvaluator(loaded, cache, config, detector)
    tracker = start_tracking(
        config.tracking.wandb_mode,
        config.tracking.wandb_project,
        config.run_name,
        config_to_dict(config),
        paths.work,
        resume_id=wandb_id,
    )
    if start_step:
        replay_history(tracker, paths.work / HISTORY_FILE)
    try:
        train_steps(trainer, config, evaluator, tracker, paths, progress)
        metrics = final_metrics(trainer, evaluator, progress)
        tracker.log({f"final/{k}": v for k, v in metrics.items()}, step=trainer.n_training_steps)
        tracker.summarize(metrics)
        write_sae_folder(paths.out, trainer, loaded, config, cache, metrics)
    finally:
        tracker.finish()
    shutil.rmtree(paths.checkpoints, ignore_errors=True)
    return SAETrainingResult(
        paths.out,
        paths.work,
        metrics,
        cache.n_train,
        trainer.n_training_steps,
        start_step,
        time.perf_counter() - start,
        tracker.folder,
    )


def restore(trainer: SAETrainer, paths: RunPaths, resume: bool) -> tuple[int, str | None]:
    """Load the last checkpoint when resuming; return the step to start at and the W&B run id."""
    folders = checkpoint_folders(paths.checkpoints)
    if not resume or not folders:
        if resume:
            logger.info("No checkpoint in %s: starting at step 0.", paths.checkpoints)
        return 0, None
    extra = load_checkpoint(trainer, folders[-1])
    step = trainer.n_training_steps
    logger.info("Resuming from %s at step %d", folders[-1], step)
    drop_history_after(paths.work / HISTORY_FILE, step)
    # NOTE: W&B keeps the values it already has for steps logged after this checkpoint and
    # ignores their second logging, so when an earlier offline folder is synced first, its
    # curves can differ there from history.jsonl.
    return step, extra.get("wandb_run_id")


def replay_history(tracker: Tracker, history: Path) -> None:
    """Send the history before the checkpoint to the resumed W&B run.

    A killed process may not have flushed its offline W&B file, so the resumed run's folder
    gets every earlier value again and contains the whole curve on its own.
    """
    if tracker.run is None or not history.is_file():
        return
    for line in history.read_text(encoding="utf-8").splitlines():
        values = json.loads(line)
        step = values.pop("step")
        tracker.send({k: v for k, v in values.items() if v is not None}, step=step)


def drop_history_after(history: Path, step: int) -> None:
    """Remove history lines logged after the checkpoint, since those steps run again."""
    if not history.is_file():
        return
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line)["step"] < step]
    write_text_atomic(history, "".join(kept))


def train_steps(
    trainer: SAETrainer,
    config: SAETrainingConfig,
    evaluator: SAEEvaluator,
    tracker: Tracker,
    paths: RunPaths,
    progress: bool,
    until_step: int | None = None,
) -> None:
    """Run the remaining steps, or those before `until_step`: train, log, evaluate, checkpoint."""
    tracking = config.tracking
    last_step = config.total_steps if until_step is None else min(until_step, config.total_steps)
    bar = tqdm(
        total=last_step,
        initial=trainer.n_training_steps,
        desc="training SAE",
        unit="step",
        disable=not progress,
    )
    while trainer.n_training_steps < last_step:
        step = trainer.n_training_steps
        tracker.log(trainer.maybe_reset_sparsity(), step=step)
        output = trainer.step(next(trainer.data_provider))
        check_loss(output.loss, step, config)

        done = step + 1
        if done % tracking.log_every == 0:
            values = trainer.build_train_step_log_dict(output, trainer.n_training_samples)
            tracker.log(values, step=step)
            bar.set_postfix(loss=f"{values['losses/overall_loss']:.4g}")
        if done % tracking.eval_every == 0:
            tracker.log(evaluator.during_training(trainer.sae), step=step)
        trainer.n_training_steps = done
        if done % config.checkpoint_every == 0 and done < config.total_steps:
            save_training_checkpoint(trainer, paths, tracker)
        bar.update(1)
    bar.close()
    if last_step < config.total_steps:
        return
    tracker.log(trainer.full_sparsity_window_log(), step=trainer.n_training_steps)
    trainer.set_final_sae_metadata()


def check_loss(loss: torch.Tensor, step: int, config: SAETrainingConfig) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"The SAE loss is {float(loss)} at step {step}: training diverged. Lower "
            f"learning_rate (now {config.learning_rate}) or the sparsity coefficient, and "
            "check the activations for outliers."
        )


def save_training_checkpoint(trainer: SAETrainer, paths: RunPaths, tracker: Tracker) -> None:
    try:
        save_checkpoint(trainer, paths.checkpoints, {"wandb_run_id": tracker.run_id})
    except OSError as error:
        raise SAESaveError(
            f"Could not write a checkpoint under {paths.checkpoints} ({error}). The previous "
            "checkpoint is intact: free disk space and rerun with --resume."
        ) from error


def final_metrics(trainer: SAETrainer, evaluator: SAEEvaluator, progress: bool) -> dict[str, float]:
    trainer.sae.eval()
    metrics = evaluator.final(trainer.sae, progress)
    metrics["dead_fraction_training"] = float(trainer.dead_neurons.float().mean())
    return metrics


def write_sae_folder(
    out: Path,
    trainer: SAETrainer,
    loaded: LoadedModel,
    config: SAETrainingConfig,
    cache: ActivationCache,
    metrics: dict[str, float],
) -> None:
    """Write the SAE in SAELens' format plus our metadata, all at once."""
    try:
        with atomic_directory(out) as folder:
            trainer.sae.save_inference_model(folder)
            save_file({"sparsity": trainer.log_feature_sparsity.cpu()}, folder / SPARSITY_FILE)
            write_json_atomic(folder / METADATA_FILE, sae_metadata(loaded, config, cache, metrics))
    except OSError as error:
        raise SAESaveError(
            f"Could not write the SAE to {out} ({error}); nothing was left there. Free disk "
            "space and rerun; with --resume the run restarts from its last checkpoint."
        ) from error


def sae_metadata(
    loaded: LoadedModel, config: SAETrainingConfig, cache: ActivationCache, metrics: dict
) -> dict:
    return {
        "model": loaded.name,
        "model_source": loaded.source,
        "model_weights_sha256": loaded.weights_sha256,
        "hook_name": config.hook_name,
        "d_model": loaded.model.cfg.d_model,
        "data": {
            "prompts": "sample_prompts(seed, 'train', n_prompts_per_group) over all groups",
            "activation_cache": cache.path.name,
            "n_train_transcripts": cache.manifest["n_train_transcripts"],
            "n_training_rows": cache.n_train,
            "n_eval_transcripts": len(cache.manifest["eval_transcripts"]),
            "n_eval_rows": cache.manifest["n_eval_rows"],
        },
        "config": config_to_dict(config),
        # NaN (a subset with no tokens) is written as null, which strict JSON readers accept.
        "metrics": {k: v if math.isfinite(v) else None for k, v in numeric(metrics).items()},
    }
