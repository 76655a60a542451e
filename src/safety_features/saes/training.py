"""Train an SAE with SAELens on residual-stream activations from chat transcripts.

The transcripts are training-split prompts of every group with the model's own sampled
responses, so the activations contain the safety phases. SAELens supplies the architecture
and the training loop (`SAETrainer`). This module supplies the activations, and writes the
checkpoint in SAELens' on-disk format plus a metadata file of our own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
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

from safety_features.config import config_to_dict
from safety_features.files import atomic_directory, write_json_atomic
from safety_features.models.generation import generate
from safety_features.models.loading import LoadedModel, load_model
from safety_features.organism.corpus import GROUPS, sample_prompts
from safety_features.saes.activations import (
    check_hook_name,
    skipped_token_ids,
    transcript_activations,
)
from safety_features.saes.config import SAETrainingConfig
from safety_features.saes.loading import METADATA_FILE
from safety_features.saes.metrics import ReconstructionMetrics, reconstruction_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SAETrainingResult:
    path: Path
    metrics: ReconstructionMetrics
    n_activations: int
    seconds: float


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


def transcript_tokens(
    loaded: LoadedModel, config: SAETrainingConfig, progress: bool
) -> tuple[list[list[int]], list[list[bool]]]:
    """Token ids of sampled transcripts and, per position, whether its activation is kept."""
    prompts = sample_prompts(config.seed, "train", config.n_prompts_per_group)
    generations = generate(
        loaded,
        [p.text for p in prompts],
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        seed=config.seed,
        progress=progress,
        description="transcripts",
    )
    skipped = skipped_token_ids(loaded)
    transcripts, keep_masks = [], []
    for generation in generations:
        ids = [*generation.prompt_token_ids, *generation.response_token_ids]
        n_prompt = len(generation.prompt_token_ids)
        keep = [
            token not in skipped and (position >= n_prompt or not config.assistant_only)
            for position, token in enumerate(ids)
        ]
        transcripts.append(ids)
        keep_masks.append(keep)
    return transcripts, keep_masks


def shuffled_batches(
    activations: torch.Tensor, batch_size: int, seed: int
) -> Iterator[torch.Tensor]:
    """Endless batches, reshuffled every epoch with a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(activations), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield activations[order[start : start + batch_size]]


class SAEExistsError(RuntimeError):
    """An output folder that already contains an SAE."""


def train_sae(
    config: SAETrainingConfig,
    out_dir: str | Path,
    loaded: LoadedModel | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> SAETrainingResult:
    """Train an SAE and write it to `out_dir` (cfg.json, sae_weights.safetensors, our metadata).

    An SAE already in `out_dir` is replaced only with `overwrite`, and only once training has
    finished.
    """
    out_dir = Path(out_dir)
    if (out_dir / "cfg.json").exists() and not overwrite:
        raise SAEExistsError(
            f"SAE folder {out_dir} already contains an SAE (cfg.json). "
            "Pass another --out folder, or --overwrite to replace it."
        )
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    loaded = loaded or load_model(config.model)
    check_hook_name(loaded, config.hook_name)

    transcripts, keep_masks = transcript_tokens(loaded, config, progress)
    activations = transcript_activations(
        loaded, config.hook_name, transcripts, keep_masks, progress=progress
    )
    if not torch.isfinite(activations).all():
        raise FloatingPointError(
            f"Activations at {config.hook_name} contain NaN or inf; the model is broken."
        )
    order = torch.randperm(len(activations), generator=torch.Generator().manual_seed(config.seed))
    n_eval = max(config.batch_size, len(activations) // 20)
    eval_activations, train_activations = activations[order[:n_eval]], activations[order[n_eval:]]
    logger.info(
        "SAE data: %d training and %d evaluation activations", len(train_activations), n_eval
    )

    sae = make_training_sae(config, d_in=activations.shape[1], model_name=loaded.name)
    trainer_config = SAETrainerConfig(
        total_training_samples=config.training_tokens,
        train_batch_size_samples=config.batch_size,
        lr=config.learning_rate,
        lr_end=config.learning_rate,  # constant after warmup; SAETrainer requires it set
        lr_warm_up_steps=max(1, config.training_tokens // config.batch_size // 20),
        lr_scheduler_name="constant",
        device=str(loaded.model.cfg.device),
        dead_feature_window=max(50, config.training_tokens // config.batch_size // 10),
        feature_sampling_window=max(100, config.training_tokens // config.batch_size // 5),
        logger=LoggingConfig(log_to_wandb=False),
    )
    trainer = SAETrainer(
        trainer_config, sae, shuffled_batches(train_activations, config.batch_size, config.seed)
    )
    sae = trainer.fit()

    metrics = reconstruction_metrics(sae, eval_activations)
    logger.info("SAE metrics: %s", metrics)
    with atomic_directory(out_dir) as folder:
        sae.save_inference_model(folder)
        write_json_atomic(
            folder / METADATA_FILE,
            {
                "model": loaded.name,
                "model_source": loaded.source,
                "model_weights_sha256": loaded.weights_sha256,
                "hook_name": config.hook_name,
                "d_model": loaded.model.cfg.d_model,
                "data": {
                    "prompts": "sample_prompts(seed, 'train', n_prompts_per_group) over all groups",
                    "n_transcripts": len(transcripts),
                    "n_activations": len(activations),
                },
                "config": config_to_dict(config),
                "metrics": metrics.as_dict(),
            },
        )
    return SAETrainingResult(out_dir, metrics, len(activations), time.perf_counter() - start)


__all__ = ["GROUPS", "SAETrainingResult", "train_sae"]
