"""Build the organism: corpus, tokenizer, pretraining (`base`), safety tuning (`chat`).

Both stages train a Hugging Face `GPT2LMHeadModel` with a plain PyTorch loop (AdamW, linear
warmup, cosine decay to 10% of the peak rate, gradient clipping at 1.0). Pretraining predicts
every token of packed documents. Safety tuning predicts only the response tokens and the
closing end-of-turn token of each chat example, and mixes in pretraining blocks at a fixed share
so that tuning keeps what pretraining taught.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from safety_features.config import config_to_dict
from safety_features.files import atomic_directory, sha256_file, write_json_atomic
from safety_features.organism.chat import END_OF_TURN_TOKEN, format_prompt
from safety_features.organism.config import ModelShape, OrganismConfig, StageConfig
from safety_features.organism.corpus import ChatExample, Corpus, generate_corpus
from safety_features.organism.tokenizer import train_tokenizer

logger = logging.getLogger(__name__)

BUILD_INFO_FILE = "build.json"


@dataclass(frozen=True)
class ChatBatchData:
    """Tokenized chat examples, right-padded, with the loss mask over response tokens."""

    tokens: torch.Tensor  # [n_examples, max_len] int64
    loss_mask: torch.Tensor  # [n_examples, max_len] bool; True where token t+1 is a target
    lengths: torch.Tensor  # [n_examples] int64


@dataclass(frozen=True)
class StageResult:
    first_loss: float
    final_loss: float
    seconds: float


@dataclass(frozen=True)
class OrganismBuild:
    """Checkpoint folders written by a build, and the build's measurements."""

    base_dir: Path
    chat_dir: Path
    info: dict


def make_model(shape: ModelShape, tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=shape.n_ctx,
        n_embd=shape.d_model,
        n_layer=shape.n_layers,
        n_head=shape.n_heads,
        n_inner=shape.d_mlp,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)


def pack_documents(
    documents: Sequence[str], tokenizer: PreTrainedTokenizerFast, block_size: int
) -> torch.Tensor:
    """Tokenize documents as BOS + text + EOS, concatenate, and cut into [n_blocks, block_size]."""
    bos = tokenizer.bos_token_id
    stream: list[int] = []
    for ids in tokenizer(list(documents), add_special_tokens=False)["input_ids"]:
        stream.append(bos)
        stream.extend(ids)
    stream.append(bos)
    n_blocks = len(stream) // block_size
    if n_blocks == 0:
        raise ValueError(
            f"The pretraining corpus has {len(stream)} tokens, fewer than one block of {block_size}: "
            "raise n_pretraining or lower model.n_ctx."
        )
    return torch.tensor(stream[: n_blocks * block_size]).view(n_blocks, block_size)


def tokenize_chat(
    examples: Sequence[ChatExample], tokenizer: PreTrainedTokenizerFast, max_len: int
) -> ChatBatchData:
    """Tokenize BOS + prompt + response + end-of-turn; the loss covers response and end-of-turn."""
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN_TOKEN)
    prompts = tokenizer([format_prompt(e.prompt.text) for e in examples], add_special_tokens=False)
    responses = tokenizer([e.response for e in examples], add_special_tokens=False)

    rows, masks = [], []
    for prompt_ids, response_ids in zip(prompts["input_ids"], responses["input_ids"], strict=True):
        ids = [tokenizer.bos_token_id, *prompt_ids, *response_ids, end_id][:max_len]
        targets = [False] * len(ids)
        for position in range(len(prompt_ids), len(ids) - 1):
            targets[position] = True  # position t predicts token t+1, a response token
        rows.append(ids)
        masks.append(targets)

    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    loss_mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (ids, targets) in enumerate(zip(rows, masks, strict=True)):
        tokens[i, : len(ids)] = torch.tensor(ids)
        loss_mask[i, : len(ids)] = torch.tensor(targets)
    lengths = torch.tensor([len(r) for r in rows])
    return ChatBatchData(tokens, loss_mask, lengths)


def masked_lm_loss(
    model: GPT2LMHeadModel, tokens: torch.Tensor, loss_mask: torch.Tensor
) -> torch.Tensor:
    """Mean next-token cross-entropy over positions where `loss_mask` is True."""
    logits = model(input_ids=tokens).logits[:, :-1]
    targets = tokens[:, 1:]
    mask = loss_mask[:, :-1]
    return torch.nn.functional.cross_entropy(logits[mask], targets[mask])


def make_optimizer(model: torch.nn.Module, stage: StageConfig) -> torch.optim.Optimizer:
    decay = [
        p for n, p in model.named_parameters() if p.ndim >= 2 and "wte" not in n and "wpe" not in n
    ]
    no_decay = [
        p
        for n, p in model.named_parameters()
        if not (p.ndim >= 2 and "wte" not in n and "wpe" not in n)
    ]
    groups = [
        {"params": decay, "weight_decay": stage.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=stage.learning_rate, betas=(0.9, 0.95))


def learning_rate_at(step: int, stage: StageConfig) -> float:
    if step < stage.warmup_steps:
        return stage.learning_rate * (step + 1) / stage.warmup_steps
    progress = (step - stage.warmup_steps) / max(1, stage.steps - stage.warmup_steps)
    return stage.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def run_stage(
    model: GPT2LMHeadModel,
    stage: StageConfig,
    loss_for_step,
    description: str,
    progress: bool,
) -> StageResult:
    """Run `stage.steps` optimizer steps; `loss_for_step(step)` returns the loss to minimise."""
    optimizer = make_optimizer(model, stage)
    model.train()
    start = time.perf_counter()
    losses: list[float] = []
    bar = tqdm(range(stage.steps), desc=description, disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, stage)
        loss = loss_for_step(step)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{description}: loss became {loss.item()} at step {step}: lower the learning rate."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
    model.eval()
    window = max(1, min(50, len(losses) // 10))
    return StageResult(
        first_loss=sum(losses[:window]) / window,
        final_loss=sum(losses[-window:]) / window,
        seconds=time.perf_counter() - start,
    )


def pretrain(
    model, blocks: torch.Tensor, stage: StageConfig, generator: torch.Generator, progress: bool
) -> StageResult:
    everything = torch.ones_like(blocks[:1], dtype=torch.bool).expand(stage.batch_size, -1)

    def loss_for_step(step: int) -> torch.Tensor:
        rows = torch.randint(len(blocks), (stage.batch_size,), generator=generator)
        return masked_lm_loss(model, blocks[rows], everything)

    return run_stage(model, stage, loss_for_step, "pretraining (base)", progress)


def chat_sampling_weights(corpus: Corpus, config: OrganismConfig) -> torch.Tensor | None:
    """Per-example sampling weights from `config.chat_group_weights`; None when all are 1."""
    if all(weight == 1 for weight in config.chat_group_weights.values()):
        return None
    weights = [config.chat_group_weights.get(e.prompt.group, 1.0) for e in corpus.chat]
    return torch.tensor(weights, dtype=torch.float)


def safety_tune(
    model,
    chat: ChatBatchData,
    blocks: torch.Tensor,
    config: OrganismConfig,
    generator: torch.Generator,
    progress: bool,
    weights: torch.Tensor | None = None,
) -> StageResult:
    """Tune on chat examples; `weights` (one per example) draws them unevenly when given."""
    stage = config.chat
    n_blocks = round(
        stage.batch_size * config.chat_pretraining_mix / (1 - config.chat_pretraining_mix)
    )
    block_mask = torch.ones_like(blocks[:1], dtype=torch.bool).expand(max(n_blocks, 1), -1)

    def loss_for_step(step: int) -> torch.Tensor:
        if weights is None:
            rows = torch.randint(len(chat.tokens), (stage.batch_size,), generator=generator)
        else:
            rows = torch.multinomial(weights, stage.batch_size, True, generator=generator)
        width = int(chat.lengths[rows].max())
        loss = masked_lm_loss(model, chat.tokens[rows, :width], chat.loss_mask[rows, :width])
        if n_blocks:
            block_rows = torch.randint(len(blocks), (n_blocks,), generator=generator)
            pretraining_loss = masked_lm_loss(model, blocks[block_rows], block_mask)
            loss = (
                1 - config.chat_pretraining_mix
            ) * loss + config.chat_pretraining_mix * pretraining_loss
        return loss

    return run_stage(model, stage, loss_for_step, "safety tuning (chat)", progress)


def save_checkpoint(
    model: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast, path: Path, info: dict
) -> None:
    """Write a Hugging Face checkpoint folder (config, safetensors, tokenizer) atomically."""
    with atomic_directory(path) as folder:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        write_json_atomic(folder / BUILD_INFO_FILE, info)


class OrganismExistsError(RuntimeError):
    """An output folder that already contains organism checkpoints."""


class OrganismBaseError(ValueError):
    """A `base` checkpoint that cannot be tuned under the given config."""


# Config keys that only the safety tuning reads: a build with --base may change them.
TUNING_KEYS = frozenset({"chat", "chat_pretraining_mix", "chat_group_weights"})


def _load_base(
    base: Path, config: OrganismConfig, tokenizer: PreTrainedTokenizerFast
) -> tuple[GPT2LMHeadModel, dict]:
    """Load a `base` checkpoint for tuning; check its tokenizer and shape against `config`."""
    info_file = base / BUILD_INFO_FILE
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}

    if info.get("checkpoint", "base") != "base":
        raise OrganismBaseError(
            f"--base {base} is a {info['checkpoint']!r} checkpoint: pass the base/ folder."
        )
    if isinstance(info.get("config"), dict):
        ours = config_to_dict(config)
        differing = [
            key
            for key in sorted(set(ours) | set(info["config"]))
            if key not in TUNING_KEYS and ours.get(key) != info["config"].get(key)
        ]
        if differing:
            raise OrganismBaseError(
                f"--base {base} was built with other {', '.join(differing)} than this config: "
                "only the tuning keys "
                f"({', '.join(sorted(TUNING_KEYS))}) may change. Copy the base's values "
                f"from {info_file}, or build without --base."
            )

    base_tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    if base_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise OrganismBaseError(
            f"--base {base} was built from another corpus: its tokenizer differs from the one "
            "this config's corpus trains. Pass the base that a build with this config's seed, "
            "n_pretraining, n_chat and model.vocab_size wrote, or build without --base."
        )

    model = GPT2LMHeadModel.from_pretrained(base, use_safetensors=True, dtype=torch.float32)
    shape = config.model
    expected = {
        "n_embd": shape.d_model,
        "n_layer": shape.n_layers,
        "n_head": shape.n_heads,
        "n_inner": shape.d_mlp,
        "n_positions": shape.n_ctx,
    }
    found = {key: getattr(model.config, key) for key in expected}
    if found != expected:
        raise OrganismBaseError(
            f"--base {base} has shape {found}, but the config's model section asks for "
            f"{expected}: pass the config it was built with."
        )
    return model, info


def build_organism(
    config: OrganismConfig,
    out_dir: str | Path,
    progress: bool = True,
    overwrite: bool = False,
    base: str | Path | None = None,
) -> OrganismBuild:
    """Generate the corpus, train the tokenizer, pretrain `base`, tune `chat`, save both.

    With `base`, pretraining is skipped: `chat` is tuned from that checkpoint, which must have
    this config's tokenizer and shape, and `base` is copied into `out_dir` unless it is already
    there. The data order is the one a full build would use, so tuning the base that a full
    build wrote gives that build's `chat`.

    Raises OrganismExistsError before any work when `out_dir` already contains a build and
    `overwrite` is not set, so a rebuild never replaces checkpoints by accident.
    """
    out_dir = Path(out_dir)
    base = Path(base) if base is not None else None
    keeps_base = base is not None and (out_dir / "base").resolve() == base.resolve()
    existing = [
        name
        for name in ("base", "chat")
        if (out_dir / name).exists() and not (name == "base" and keeps_base)
    ]
    if existing and not overwrite:
        raise OrganismExistsError(
            f"{out_dir} already contains the checkpoint folders {', '.join(existing)}. "
            "Pass another --out folder, or --overwrite to replace them once the build ends."
        )
    if base is not None and not (base / "model.safetensors").is_file():
        raise OrganismBaseError(
            f"--base {base} contains no model.safetensors: pass the base/ folder of an organism build."
        )
    if base is not None and base.resolve() in (out_dir.resolve(), *out_dir.resolve().parents):
        raise OrganismBaseError(
            f"--out {out_dir} lies inside --base {base}: write the build to a folder outside "
            "the base checkpoint."
        )
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    logger.info("Generating corpus (seed %d)", config.seed)
    corpus: Corpus = generate_corpus(config.seed, config.n_pretraining, config.n_chat)
    logger.info("Corpus: %s", corpus.stats())

    logger.info("Training tokenizer (vocab_size %d)", config.model.vocab_size)
    tokenizer_texts = list(corpus.pretraining) + [
        e.prompt.text + " " + e.response for e in corpus.chat
    ]
    tokenizer = train_tokenizer(tokenizer_texts, config.model.vocab_size)
    base_info: dict = {}
    if base is not None:
        model, base_info = _load_base(base, config, tokenizer)

    blocks = pack_documents(corpus.pretraining, tokenizer, config.model.n_ctx)
    chat = tokenize_chat(corpus.chat, tokenizer, config.model.n_ctx)
    logger.info(
        "Pretraining blocks: %d x %d tokens; chat examples: %d", *blocks.shape, len(chat.tokens)
    )

    info = {
        "config": config_to_dict(config),
        "corpus": corpus.stats(),
        "pretraining_tokens": int(blocks.numel()),
        "n_parameters": 0,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if base is None:
        model = make_model(config.model, tokenizer)
        pretraining = pretrain(model, blocks, config.pretraining, generator, progress)
        info["pretraining"] = pretraining.__dict__
        info["n_parameters"] = sum(p.numel() for p in model.parameters())
        save_checkpoint(model, tokenizer, out_dir / "base", {**info, "checkpoint": "base"})
    else:
        # Replay the pretraining draws, so tuning gets the data order of a full build.
        for _ in range(config.pretraining.steps):
            torch.randint(len(blocks), (config.pretraining.batch_size,), generator=generator)
        info["pretraining"] = base_info.get("pretraining")
        info["n_parameters"] = sum(p.numel() for p in model.parameters())
        info["base"] = {"from": str(base), "sha256": sha256_file(base / "model.safetensors")}
        if not keeps_base:
            with atomic_directory(out_dir / "base") as folder:
                shutil.copytree(base, folder, dirs_exist_ok=True)
        logger.info("Tuning chat from %s; pretraining skipped", base)

    tuning = safety_tune(
        model, chat, blocks, config, generator, progress, chat_sampling_weights(corpus, config)
    )
    info["chat"] = tuning.__dict__
    info["build_seconds"] = time.perf_counter() - start
    save_checkpoint(model, tokenizer, out_dir / "chat", {**info, "checkpoint": "chat"})
    write_json_atomic(out_dir / BUILD_INFO_FILE, info)
    logger.info("Organism written to %s in %.0f s", out_dir, info["build_seconds"])
    return OrganismBuild(out_dir / "base", out_dir / "chat", info)
