"""Activation caches on disk: residual-stream activations of chat transcripts, in shards.

A cache contains the activations at one hook for the transcripts of training-split prompts
(prompt plus the model's own sampled response), split by transcript into a training part,
written in shards of `shard_size` rows, and an evaluation part. Each evaluation row also
records whether its token lies in a safety phase, for the SAE's safety metrics.

Caches are keyed by everything that changes their content (model weights, hook, data
settings, seed), so a sweep over SAE settings reuses one cache. Building one streams the
transcripts in chunks, so memory stays bounded by a chunk and a shard however large the
dataset. The folder appears under its final name only when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Bool, Float
from safetensors.torch import load_file, save_file

from safety_features.files import atomic_directory, write_json_atomic
from safety_features.models.generation import Generation, generate
from safety_features.models.loading import REPOSITORY_ROOT, LoadedModel
from safety_features.organism.corpus import sample_prompts
from safety_features.phases.concepts import SAFETY_CONCEPTS
from safety_features.phases.detect import PhaseDetector
from safety_features.saes.activations import (
    check_hook_name,
    skipped_token_ids,
    transcript_activations,
)
from safety_features.saes.config import ActivationDataConfig

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CACHE_FORMAT = 1
CHUNK_TRANSCRIPTS = 512
"""Transcripts generated and run through the model at a time while building a cache."""


class ActivationCacheError(RuntimeError):
    """A cache folder that is missing, incomplete or corrupt."""


@dataclass(frozen=True)
class Transcript:
    token_ids: tuple[int, ...]
    n_prompt_tokens: int
    keep: tuple[bool, ...]
    """Per position: whether its activation is in the cache."""


@dataclass(frozen=True)
class EvalActivations:
    activations: Float[torch.Tensor, "n d_in"]
    in_response: Bool[torch.Tensor, " n"]
    in_safety_phase: Bool[torch.Tensor, " n"]


def cache_key(loaded: LoadedModel, hook_name: str, data: ActivationDataConfig, seed: int) -> str:
    """Hash of everything that decides a cache's content."""
    settings = {
        "format": CACHE_FORMAT,
        "model": loaded.weights_sha256 or loaded.source,
        "hook_name": hook_name,
        "seed": seed,
        **{k: v for k, v in vars(data).items() if k not in ("cache_dir", "buffer_shards")},
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def make_transcripts(
    loaded: LoadedModel, generations: Sequence[Generation], data: ActivationDataConfig
) -> list[Transcript]:
    skipped = skipped_token_ids(loaded, data.mask_template_tokens)
    transcripts = []
    for generation in generations:
        ids = (*generation.prompt_token_ids, *generation.response_token_ids)
        n_prompt = len(generation.prompt_token_ids)
        keep = tuple(
            token not in skipped and (position >= n_prompt or not data.assistant_only)
            for position, token in enumerate(ids)
        )
        transcripts.append(Transcript(ids, n_prompt, keep))
    return transcripts


class ActivationCache:
    """A complete cache folder: training shards, evaluation activations and transcripts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise ActivationCacheError(
                f"Activation cache {self.path} has no {MANIFEST}: delete the folder and run "
                "the training again to rebuild it."
            )
        self.manifest = json.loads(manifest_path.read_text())
        self.shard_sizes: list[int] = [s["rows"] for s in self.manifest["shards"]]

    @property
    def d_in(self) -> int:
        return int(self.manifest["d_in"])

    @property
    def n_train(self) -> int:
        return sum(self.shard_sizes)

    def load_shard(self, index: int) -> Float[torch.Tensor, "rows d_in"]:
        shard = self.manifest["shards"][index]
        path = self.path / shard["file"]
        try:
            rows = load_file(path)["activations"]
        except (OSError, KeyError, RuntimeError) as error:
            raise ActivationCacheError(
                f"Shard {path} could not be read ({error}): delete {self.path} to rebuild the cache."
            ) from error
        if rows.shape != (shard["rows"], self.d_in):
            raise ActivationCacheError(
                f"Shard {path} has shape {tuple(rows.shape)}, expected ({shard['rows']}, "
                f"{self.d_in}): delete {self.path} to rebuild the cache."
            )
        return rows

    def eval_activations(self) -> EvalActivations:
        tensors = load_file(self.path / "eval.safetensors")
        return EvalActivations(
            tensors["activations"], tensors["in_response"], tensors["in_safety_phase"]
        )

    def eval_transcripts(self) -> list[Transcript]:
        return [
            Transcript(tuple(t["token_ids"]), t["n_prompt_tokens"], tuple(t["keep"]))
            for t in self.manifest["eval_transcripts"]
        ]


def resolve_cache_dir(data: ActivationDataConfig) -> Path:
    path = Path(data.cache_dir).expanduser()
    return path if path.is_absolute() else REPOSITORY_ROOT / path


def open_or_build_cache(
    loaded: LoadedModel,
    hook_name: str,
    data: ActivationDataConfig,
    seed: int,
    detector: PhaseDetector,
    progress: bool = True,
) -> ActivationCache:
    """Return the cache for these settings, building it first when it does not exist."""
    check_hook_name(loaded, hook_name)
    path = resolve_cache_dir(data) / cache_key(loaded, hook_name, data, seed)
    if (path / MANIFEST).is_file():
        logger.info("Reusing the activation cache %s", path)
        return ActivationCache(path)
    logger.info("Building the activation cache %s", path)
    with atomic_directory(path) as folder:
        write_cache(folder, loaded, hook_name, data, seed, detector, progress)
    return ActivationCache(path)


def split_prompts(data: ActivationDataConfig, seed: int) -> tuple[list, list]:
    """Training-split prompts in a seeded random order, cut into (train, eval) by transcript."""
    prompts = sample_prompts(seed, "train", data.n_prompts_per_group)
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [prompts[i] for i in order]
    n_eval = max(1, round(len(shuffled) * data.eval_fraction))
    if n_eval >= len(shuffled):
        raise ValueError(
            f"n_prompts_per_group={data.n_prompts_per_group} gives {len(shuffled)} transcripts, "
            f"too few to hold out eval_fraction={data.eval_fraction} and still train: raise it."
        )
    return shuffled[n_eval:], shuffled[:n_eval]


def sampled_transcripts(
    loaded: LoadedModel, prompts: Sequence, data: ActivationDataConfig, seed: int, progress: bool
) -> Iterator[tuple[list[Generation], list[Transcript]]]:
    """Generate transcripts chunk by chunk; each chunk has its own seed, so output is stable."""
    for number, start in enumerate(range(0, len(prompts), CHUNK_TRANSCRIPTS)):
        chunk = prompts[start : start + CHUNK_TRANSCRIPTS]
        generations = generate(
            loaded,
            [p.text for p in chunk],
            max_new_tokens=data.max_new_tokens,
            batch_size=data.batch_size,
            temperature=data.temperature,
            seed=seed * 1_000_003 + number,
            progress=progress,
            description=f"transcripts {start + len(chunk)}/{len(prompts)}",
        )
        yield generations, make_transcripts(loaded, generations, data)


def activations_of(
    loaded: LoadedModel, hook_name: str, transcripts: Sequence[Transcript], batch_size: int
) -> torch.Tensor:
    return transcript_activations(
        loaded,
        hook_name,
        [t.token_ids for t in transcripts],
        [t.keep for t in transcripts],
        batch_size=batch_size,
        progress=False,
    )


def check_finite(activations: torch.Tensor, hook_name: str) -> None:
    if not torch.isfinite(activations).all():
        bad = int((~torch.isfinite(activations)).any(dim=1).sum())
        raise FloatingPointError(
            f"Activations at {hook_name} contain NaN or inf in {bad} of {len(activations)} rows: "
            "the model's weights are broken or its dtype overflows; load it in float32."
        )


class ShardWriter:
    """Collects activation rows and writes them as shards of exactly `shard_size` rows."""

    def __init__(self, folder: Path, shard_size: int) -> None:
        self.folder = folder
        self.shard_size = shard_size
        self.pending: list[torch.Tensor] = []
        self.n_pending = 0
        self.shards: list[dict] = []

    def add(self, rows: torch.Tensor) -> None:
        self.pending.append(rows)
        self.n_pending += len(rows)
        while self.n_pending >= self.shard_size:
            self._write(self.shard_size)

    def close(self) -> list[dict]:
        if self.n_pending:
            self._write(self.n_pending)
        return self.shards

    def _write(self, n_rows: int) -> None:
        rows = torch.cat(self.pending)
        name = f"train-{len(self.shards):05d}.safetensors"
        save_file({"activations": rows[:n_rows].contiguous()}, self.folder / name)
        self.shards.append({"file": name, "rows": n_rows})
        rest = rows[n_rows:]
        self.pending = [rest] if len(rest) else []
        self.n_pending = len(rest)


def write_cache(
    folder: Path,
    loaded: LoadedModel,
    hook_name: str,
    data: ActivationDataConfig,
    seed: int,
    detector: PhaseDetector,
    progress: bool,
) -> None:
    train_prompts, eval_prompts = split_prompts(data, seed)
    writer = ShardWriter(folder, data.shard_size)
    n_transcripts = 0
    for _, transcripts in sampled_transcripts(loaded, train_prompts, data, seed, progress):
        activations = activations_of(loaded, hook_name, transcripts, data.batch_size)
        check_finite(activations, hook_name)
        writer.add(activations)
        n_transcripts += len(transcripts)
    shards = writer.close()

    eval_generations: list[Generation] = []
    eval_transcripts: list[Transcript] = []
    for generations, transcripts in sampled_transcripts(
        loaded, eval_prompts, data, seed + 1, progress=False
    ):
        eval_generations += generations
        eval_transcripts += transcripts
    eval_activations = activations_of(loaded, hook_name, eval_transcripts, data.batch_size)
    check_finite(eval_activations, hook_name)
    in_response, in_safety = safety_token_flags(eval_generations, eval_transcripts, detector)
    save_file(
        {
            "activations": eval_activations.contiguous(),
            "in_response": in_response,
            "in_safety_phase": in_safety,
        },
        folder / "eval.safetensors",
    )
    write_json_atomic(
        folder / MANIFEST,
        {
            "format": CACHE_FORMAT,
            "model": loaded.name,
            "model_weights_sha256": loaded.weights_sha256,
            "hook_name": hook_name,
            "d_in": eval_activations.shape[1],
            "seed": seed,
            "data": vars(data),
            "n_train_transcripts": n_transcripts,
            "shards": shards,
            "n_eval_rows": len(eval_activations),
            "n_eval_safety_rows": int(in_safety.sum()),
            "eval_transcripts": [
                {"token_ids": t.token_ids, "n_prompt_tokens": t.n_prompt_tokens, "keep": t.keep}
                for t in eval_transcripts
            ],
        },
    )
    logger.info(
        "Activation cache: %d training rows in %d shards, %d evaluation rows",
        sum(s["rows"] for s in shards),
        len(shards),
        len(eval_activations),
    )


def safety_token_flags(
    generations: Sequence[Generation], transcripts: Sequence[Transcript], detector: PhaseDetector
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cached row: whether it is a response token, and whether it lies in a safety phase."""
    results = detector.detect(
        token_ids=[g.response_token_ids for g in generations],
        prompts=[g.prompt for g in generations],
    )
    in_response, in_safety = [], []
    for transcript, result in zip(transcripts, results, strict=True):
        n_response = len(transcript.token_ids) - transcript.n_prompt_tokens
        safety = torch.zeros(n_response, dtype=torch.bool)
        for phase in result.segmentation.phases:
            if phase.concept in SAFETY_CONCEPTS:
                safety[phase.token_start : phase.token_end] = True
        keep = torch.tensor(transcript.keep, dtype=torch.bool)
        response = torch.zeros(len(keep), dtype=torch.bool)
        response[transcript.n_prompt_tokens :] = True
        full_safety = torch.zeros(len(keep), dtype=torch.bool)
        full_safety[transcript.n_prompt_tokens :] = safety
        in_response.append(response[keep])
        in_safety.append(full_safety[keep])
    return torch.cat(in_response), torch.cat(in_safety)
