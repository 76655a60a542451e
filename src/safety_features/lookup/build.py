"""Build a feature index by streaming a corpus of transcripts through the model and the SAE.

The corpus is the model's own greedy responses to prompts, with phases detected. The SAE
encodes `chunk_tokens` activations at a time, so memory is bounded by one chunk and the
per-feature accumulators, whatever the corpus size:

- density, mean nonzero activation and maximum;
- the top `n_top_contexts` activations (value and corpus token), merged chunk by chunk;
- a uniform random sample of `sample_pool` nonzero activations (the ones with the largest
  random keys), from which contexts at evenly spaced quantiles are picked at the end;
- histograms of the activation (zero, then 64 log-spaced bins) separately for tokens inside and
  outside each label (each phase concept, and "an onset within the next k tokens"); AUROC
  comes from them, with activations in one bin counted as ties.

A second pass reads each chosen context's activations over its window of tokens. The decoder
direction of each feature goes through the unembedding, W_dec W_U, for its top and bottom tokens.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from safety_features.config import config_to_dict
from safety_features.experiments.onsets import ExperimentInputError
from safety_features.experiments.runs import read_jsonl_prompts, repository_path
from safety_features.files import (
    atomic_directory,
    check_output_folder,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.lookup.config import IndexConfig
from safety_features.lookup.encoder import ENCODER_FILE, write_encoder
from safety_features.lookup.store import INDEX_FORMAT, sha256_of
from safety_features.models.generation import generate
from safety_features.models.loading import LoadedModel, load_model
from safety_features.organism.corpus import Prompt, sample_prompts
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.responses import DetectedResponse, detect_responses
from safety_features.saes.activations import layer_of_hook
from safety_features.saes.loading import LoadedSAE, check_sae_fits, load_sae

logger = logging.getLogger(__name__)

N_BINS = 64
BIN_EDGES = torch.logspace(-3, 3, N_BINS - 1)
N_DECODER_TOKENS = 10


def corpus_prompts(config: IndexConfig) -> list[Prompt]:
    if not config.prompts_file:
        return sample_prompts(config.seed, "train", config.n_prompts_per_group)
    prompts = []
    path = repository_path(config.prompts_file)
    for number, record in read_jsonl_prompts(path, ("prompt",), ExperimentInputError):
        group = str(record.get("group", "suite"))
        category = str(record.get("category", group))
        prompts.append(Prompt(record["prompt"], group, category, f"suite/{number}", "suite"))
    return prompts


class Corpus:
    """Transcripts as one flat token array, with per-token labels for the enrichment AUROCs."""

    def __init__(
        self, responses: Sequence[DetectedResponse], concepts: Sequence[str], horizon: int
    ):
        self.responses = list(responses)
        self.label_names = [*concepts, f"onset_within_{horizon}"]
        rows, starts, prompts, phases = [], [0], [], []
        member, evaluated = [], []
        for response in self.responses:
            ids = [*response.generation.prompt_token_ids, *response.generation.response_token_ids]
            n_prompt = len(response.generation.prompt_token_ids)
            rows.append(np.array(ids, dtype=np.int32))
            starts.append(starts[-1] + len(ids))
            prompts.append(n_prompt)
            labels, scored = self.token_labels(response, len(ids), n_prompt, concepts, horizon)
            member.append(labels)
            evaluated.append(scored)
            phase = np.full(len(ids), -1, dtype=np.int8)
            phase[n_prompt:] = 0
            if response.phases is not None:
                for p in response.phases.segmentation.phases:
                    phase[n_prompt + p.token_start : n_prompt + p.token_end] = (
                        concepts.index(p.concept) + 1
                    )
            phases.append(phase)
        self.tokens = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        self.starts = np.array(starts, dtype=np.int64)
        self.n_prompt = np.array(prompts, dtype=np.int32)
        self.phase_labels = np.concatenate(phases) if phases else np.zeros(0, dtype=np.int8)
        self.member = torch.from_numpy(np.concatenate(member, axis=0))
        """[tokens, labels] bool: the token belongs to the label."""
        self.evaluated = torch.from_numpy(np.concatenate(evaluated, axis=0))
        """[tokens, labels] bool: the token counts for the label's AUROC."""

    @staticmethod
    def token_labels(response, length, n_prompt, concepts, horizon):
        labels = np.zeros((length, len(concepts) + 1), dtype=bool)
        scored = np.zeros((length, len(concepts) + 1), dtype=bool)
        scored[n_prompt:, : len(concepts)] = True  # phase membership: response tokens
        scored[n_prompt - 1 :, -1] = True  # onset ahead: the last prompt token and after
        if response.phases is not None:
            for phase in response.phases.segmentation.phases:
                column = concepts.index(phase.concept)
                labels[n_prompt + phase.token_start : n_prompt + phase.token_end, column] = True
        if response.onset is not None and response.onset.token_index is not None:
            onset = n_prompt + response.onset.token_index
            labels[max(0, onset - horizon) : onset, -1] = True
        return labels, scored

    def transcript_rows(self, first: int, last: int) -> list[list[int]]:
        return [
            self.tokens[self.starts[i] : self.starts[i + 1]].tolist() for i in range(first, last)
        ]


@torch.no_grad()
def encoded_chunks(
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    corpus: Corpus,
    chunk_tokens: int,
    description: str,
    progress: bool = True,
):
    """Yield (first corpus token, features [tokens, d_sae]) over the corpus, BOS rows zeroed."""
    layer = layer_of_hook(loaded_sae.hook_name)
    stop_at = None if layer is None else layer + 1
    n = len(corpus.responses)
    batch = max(1, chunk_tokens // max(1, int(np.diff(corpus.starts).max(initial=1))))
    for first in tqdm(range(0, n, batch), desc=description, unit="batch", disable=not progress):
        last = min(n, first + batch)
        rows = corpus.transcript_rows(first, last)
        width = max(len(r) for r in rows)
        tokens = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            tokens[i, : len(row)] = torch.tensor(row)
        _, cache = loaded.model.run_with_cache(
            tokens.to(loaded.model.cfg.device),
            names_filter=loaded_sae.hook_name,
            stop_at_layer=stop_at,
        )
        activations = cache[loaded_sae.hook_name]
        flat = torch.cat([activations[i, 1 : len(row)] for i, row in enumerate(rows)])
        features = loaded_sae.sae.encode(flat.to(loaded_sae.sae.W_dec.device)).float().cpu()
        # Put the BOS rows back as zeros, so row j is corpus token starts[first] + j.
        pieces, offset = [], 0
        for row in rows:
            pieces.append(torch.zeros(1, features.shape[1]))
            pieces.append(features[offset : offset + len(row) - 1])
            offset += len(row) - 1
        yield int(corpus.starts[first]), torch.cat(pieces)


class Accumulator:
    """Per-feature statistics, updated one chunk of encoded tokens at a time."""

    def __init__(self, d_sae: int, n_labels: int, n_top: int, pool: int, seed: int) -> None:
        self.n_tokens = 0
        self.nonzero = torch.zeros(d_sae, dtype=torch.long)
        self.sum = torch.zeros(d_sae, dtype=torch.float64)
        self.max = torch.zeros(d_sae)
        self.top_values = torch.full((d_sae, n_top), -1.0)
        self.top_tokens = torch.full((d_sae, n_top), -1, dtype=torch.long)
        self.pool_keys = torch.full((d_sae, pool), -1.0)
        self.pool_values = torch.zeros((d_sae, pool))
        self.pool_tokens = torch.full((d_sae, pool), -1, dtype=torch.long)
        self.histograms = torch.zeros((2, n_labels, d_sae * (N_BINS + 1)), dtype=torch.long)
        """[inside / outside, label, feature * (N_BINS + 1) + level]; level 0 is a zero activation."""
        self.generator = torch.Generator().manual_seed(seed)

    @staticmethod
    def merge(kept_keys, kept_payload, new_keys, new_payload, size):
        keys = torch.cat([kept_keys, new_keys], dim=1)
        order = torch.topk(keys, size, dim=1).indices
        return keys.gather(1, order), [
            torch.cat([a, b], dim=1).gather(1, order)
            for a, b in zip(kept_payload, new_payload, strict=True)
        ]

    def update(
        self, first: int, features: torch.Tensor, member: torch.Tensor, evaluated: torch.Tensor
    ) -> None:
        n, d_sae = features.shape
        token_ids = torch.arange(first, first + n)
        self.n_tokens += n
        active = features > 0
        self.nonzero += active.sum(dim=0)
        self.sum += features.sum(dim=0, dtype=torch.float64)
        self.max = torch.maximum(self.max, features.max(dim=0).values)

        k = min(self.top_values.shape[1], n)
        top = torch.topk(features, k, dim=0)
        self.top_values, (self.top_tokens,) = self.merge(
            self.top_values,
            [self.top_tokens],
            top.values.T,
            [token_ids[top.indices].T],
            self.top_values.shape[1],
        )

        keys = torch.rand(features.shape, generator=self.generator).masked_fill(~active, -1.0)
        k = min(self.pool_keys.shape[1], n)
        chosen = torch.topk(keys, k, dim=0)
        values = features.gather(0, chosen.indices)
        self.pool_keys, (self.pool_values, self.pool_tokens) = self.merge(
            self.pool_keys,
            [self.pool_values, self.pool_tokens],
            chosen.values.T,
            [values.T, token_ids[chosen.indices].T],
            self.pool_keys.shape[1],
        )

        rows, columns = torch.nonzero(active, as_tuple=True)
        levels = torch.bucketize(features[rows, columns], BIN_EDGES) + 1
        slots = columns * (N_BINS + 1) + levels
        size = d_sae * (N_BINS + 1)
        zero_slots = torch.arange(d_sae) * (N_BINS + 1)
        counted = torch.stack([evaluated & member, evaluated & ~member])  # [side, tokens, labels]
        # Active tokens of each feature per (side, label), in one product: [d_sae, side * labels].
        active_counts = active.T.float() @ counted.permute(1, 0, 2).reshape(n, -1).float()
        active_counts = active_counts.round().long().T.reshape(2, -1, d_sae)
        for side in range(2):
            for label in range(member.shape[1]):
                tokens = counted[side, :, label]
                self.histograms[side, label] += torch.bincount(slots[tokens[rows]], minlength=size)
                # Tokens where the feature is zero: all counted tokens minus the active ones.
                zeros = int(tokens.sum()) - active_counts[side, label]
                self.histograms[side, label, zero_slots] += zeros

    def aurocs(self) -> torch.Tensor:
        """[d_sae, labels] AUROC of the activation for each label, ties counted half."""
        d_sae = self.max.shape[0]
        histograms = self.histograms.view(2, -1, d_sae, N_BINS + 1).double()
        inside, outside = histograms[0], histograms[1]
        below = torch.cumsum(outside, dim=-1) - outside
        wins = (inside * (below + 0.5 * outside)).sum(dim=-1)
        totals = inside.sum(dim=-1) * outside.sum(dim=-1)
        return (wins / totals).T.float()


def quantile_samples(accumulator: Accumulator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` pool entries per feature at evenly spaced quantiles of the pooled values."""
    valid = accumulator.pool_keys >= 0
    values = accumulator.pool_values.masked_fill(~valid, float("inf"))
    order = torch.argsort(values, dim=1)
    n_valid = valid.sum(dim=1)
    fractions = (torch.arange(count, dtype=torch.float32) + 0.5) / count
    picks = (fractions[None, :] * n_valid[:, None].float()).long().clamp(max=values.shape[1] - 1)
    chosen = order.gather(1, picks)
    sample_values = accumulator.pool_values.gather(1, chosen)
    sample_tokens = accumulator.pool_tokens.gather(1, chosen)
    empty = picks >= n_valid[:, None]
    return sample_values.masked_fill(empty, -1.0), sample_tokens.masked_fill(empty, -1)


def window_tokens(corpus: Corpus, centres: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Corpus token indices of the window around each centre, -1 outside its transcript."""
    offsets = torch.arange(-before, after + 1)
    window = centres[..., None] + offsets
    starts = torch.from_numpy(corpus.starts)
    transcript = torch.searchsorted(starts, centres.clamp(min=0), right=True) - 1
    low = starts[transcript][..., None]
    high = starts[(transcript + 1).clamp(max=len(starts) - 1)][..., None]
    inside = (window >= low) & (window < high) & (centres[..., None] >= 0)
    return window.masked_fill(~inside, -1)


def decoder_tokens(loaded: LoadedModel, loaded_sae: LoadedSAE) -> dict[str, torch.Tensor]:
    logits = loaded_sae.sae.W_dec.detach().float().cpu() @ loaded.model.W_U.detach().float().cpu()
    top = torch.topk(logits, N_DECODER_TOKENS, dim=1)
    bottom = torch.topk(-logits, N_DECODER_TOKENS, dim=1)
    return {
        "decoder_top_ids": top.indices.int(),
        "decoder_top_values": top.values,
        "decoder_bottom_ids": bottom.indices.int(),
        "decoder_bottom_values": -bottom.values,
    }


def build_index(
    config: IndexConfig, out_dir: str | Path, progress: bool = True, overwrite: bool = False
) -> Path:
    """Generate the corpus, stream it through the model and SAE, and write the index folder."""
    out_dir = check_output_folder(Path(out_dir), "index.json", overwrite)
    sae_path = repository_path(config.sae_path)
    loaded_sae = load_sae(sae_path)
    loaded = load_model(config.model or loaded_sae.metadata.get("model") or "organism:chat")
    check_sae_fits(loaded_sae, loaded)
    concepts_path = repository_path(config.concepts) if config.concepts else None
    detector = PhaseDetector(loaded.tokenizer, concepts_path, config.phase_scorer)
    prompts = corpus_prompts(config)
    generations = generate(
        loaded,
        [p.text for p in prompts],
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        progress=progress,
        description="corpus",
    )
    responses = detect_responses(loaded, prompts, generations, detector)
    source = config.prompts_file or f"organism training prompts, seed {config.seed}"
    return index_from_responses(
        config,
        loaded,
        loaded_sae,
        responses,
        list(detector.concepts.names),
        out_dir,
        source=source,
        sae_path=sae_path,
        progress=progress,
    )


def index_from_responses(
    config: IndexConfig,
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    responses: Sequence[DetectedResponse],
    concepts: Sequence[str],
    out_dir: Path,
    source: str,
    sae_path: Path,
    recorded_sae_path: str | None = None,
    progress: bool = True,
) -> Path:
    """Stream responses whose phases are already detected through the model and SAE, and
    write the index folder.

    `sae_path` is the SAE folder to hash. `recorded_sae_path` is the SAE folder that index.json
    records (default `sae_path`), for an SAE folder that is about to be moved.
    """
    corpus = Corpus(responses, list(concepts), config.onset_horizon)
    d_sae = loaded_sae.sae.cfg.d_sae
    accumulator = Accumulator(
        d_sae, len(corpus.label_names), config.n_top_contexts, config.sample_pool, config.seed
    )
    for first, features in encoded_chunks(
        loaded, loaded_sae, corpus, config.chunk_tokens, "index pass 1", progress
    ):
        rows = slice(first, first + features.shape[0])
        accumulator.update(first, features, corpus.member[rows], corpus.evaluated[rows])
    sample_values, sample_tokens = quantile_samples(accumulator, config.n_quantile_samples)

    centres = torch.cat([accumulator.top_tokens, sample_tokens], dim=1)
    windows = window_tokens(corpus, centres, config.context_before, config.context_after)
    window_values = torch.zeros(windows.shape)
    feature_ids = torch.arange(d_sae)[:, None, None].expand_as(windows)
    for first, features in encoded_chunks(
        loaded, loaded_sae, corpus, config.chunk_tokens, "index pass 2", progress
    ):
        inside = (windows >= first) & (windows < first + features.shape[0])
        window_values[inside] = features[windows[inside] - first, feature_ids[inside]]
    window_values[windows < 0] = float("nan")

    n_top = config.n_top_contexts
    tensors = {
        "density": (
            accumulator.nonzero.float() / max(1, len(corpus.tokens) - len(corpus.responses))
        ),
        "mean_nonzero": (accumulator.sum / accumulator.nonzero.clamp(min=1)).float(),
        "max": accumulator.max,
        "top_values": accumulator.top_values,
        "top_tokens": accumulator.top_tokens,
        "top_windows": window_values[:, :n_top],
        "sample_values": sample_values,
        "sample_tokens": sample_tokens,
        "sample_windows": window_values[:, n_top:],
        "auroc": accumulator.aurocs(),
        **decoder_tokens(loaded, loaded_sae),
    }
    # An absolute path, so the index finds its SAE from any working folder.
    sae = {"path": recorded_sae_path or str(Path(sae_path).resolve()), "weights": Path(sae_path)}
    write_folder(out_dir, config, loaded, loaded_sae, sae, corpus, tensors, source)
    return out_dir


def write_folder(
    out_dir, config, loaded, loaded_sae, sae: dict, corpus: Corpus, tensors, source: str
) -> None:
    with atomic_directory(out_dir) as folder:
        save_file(
            {k: v.contiguous() for k, v in tensors.items()}, str(folder / "features.safetensors")
        )
        save_file(
            {
                "tokens": torch.from_numpy(corpus.tokens),
                "transcript_starts": torch.from_numpy(corpus.starts),
                "n_prompt": torch.from_numpy(corpus.n_prompt),
                "phase_labels": torch.from_numpy(corpus.phase_labels),
            },
            str(folder / "corpus.safetensors"),
        )
        write_text_atomic(
            folder / "transcripts.jsonl",
            "".join(
                json.dumps(
                    {
                        "prompt": r.prompt.text,
                        "group": r.prompt.group,
                        "category": r.prompt.category,
                    }
                )
                + "\n"
                for r in corpus.responses
            ),
        )
        loaded.tokenizer.save_pretrained(str(folder / "tokenizer-files"))
        shutil.copy(folder / "tokenizer-files" / "tokenizer.json", folder / "tokenizer.json")
        shutil.rmtree(folder / "tokenizer-files")
        encoder = write_encoder(folder, loaded, loaded_sae)
        data_files = ["features.safetensors", "corpus.safetensors", "transcripts.jsonl"]
        if "unsupported" not in encoder:
            data_files.append(ENCODER_FILE)
        write_json_atomic(
            folder / "index.json",
            {
                "format": INDEX_FORMAT,
                "files_sha256": {name: sha256_of(folder / name) for name in data_files},
                "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "sae": {
                    "path": sae["path"],
                    "weights_sha256": sha256_of(sae["weights"] / "sae_weights.safetensors"),
                    "hook_name": loaded_sae.hook_name,
                    "d_sae": loaded_sae.sae.cfg.d_sae,
                },
                "model": {
                    "name": loaded.name,
                    "source": loaded.source,
                    "weights_sha256": loaded.weights_sha256,
                },
                "encoder": encoder,
                "labels": corpus.label_names,
                "phase_concepts": corpus.label_names[:-1],
                "corpus": {
                    "n_transcripts": len(corpus.responses),
                    "n_tokens": int(len(corpus.tokens)),
                    "source": source,
                },
                "config": config_to_dict(config),
            },
        )
