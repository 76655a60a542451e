"""Load the organism or any TransformerLens model as a HookedTransformer with its chat format.

The organism is read from a local Hugging Face folder (config.json, model.safetensors, tokenizer)
and converted with TransformerLens' GPT-2 weight conversion, so nothing contacts a hub. A model
name (``gpt2``, ``google/gemma-2-2b-it``, ...) goes through `HookedTransformer.from_pretrained`
with the Hugging Face hub set offline, so its weights must already be in the local cache.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import constants as hf_constants
from safetensors import SafetensorError
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.loading_from_pretrained import get_official_model_name
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerBase

from safety_features.files import sha256_file
from safety_features.organism.chat import END_OF_TURN_TOKEN
from safety_features.paths import REPOSITORY_ROOT

logger = logging.getLogger(__name__)

CHECKPOINT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
ORGANISM_PREFIX = "organism:"


class ModelLoadError(RuntimeError):
    """A model name or checkpoint folder that cannot be loaded, with the reason and the fix."""


@dataclass
class LoadedModel:
    """A HookedTransformer with the tokenizer and chat format it was trained with."""

    model: HookedTransformer
    tokenizer: PreTrainedTokenizerBase
    name: str
    """The name or path the caller passed."""
    source: str
    """Resolved checkpoint folder, or the official TransformerLens model name."""
    weights_sha256: str | None
    """SHA-256 of model.safetensors for local checkpoints; None for cached hub models."""
    stop_token_ids: tuple[int, ...]
    """Token ids that end an assistant turn."""

    def format_prompt(self, prompt: str) -> str:
        """Render a user prompt up to where the assistant's response begins, without BOS."""
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            return f"User: {prompt}\nAssistant:"
        text = str(
            self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        )
        bos = self.tokenizer.bos_token
        if bos and text.startswith(bos):
            text = text[len(bos) :]  # TransformerLens prepends BOS itself
        return text


def resolve_checkpoint(name: str) -> Path | None:
    """Map ``organism:chat`` or a folder path to a folder; None for a hub model name."""
    if name.startswith(ORGANISM_PREFIX):
        # NOTE: resolved against the source checkout, so this works in an editable install only.
        # From an installed wheel, pass the checkpoint folder path instead.
        variant = name[len(ORGANISM_PREFIX) :]
        if variant not in ("chat", "base"):
            raise ModelLoadError(
                f"Unknown organism checkpoint {name!r}: use 'organism:chat' or 'organism:base'."
            )
        return REPOSITORY_ROOT / "checkpoints" / "organism" / variant
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        return path
    # A hub name such as "google/gemma-2-2b-it" also contains a slash, so a relative name counts
    # as a folder only when its first component exists here.
    if len(path.parts) > 1 and Path(path.parts[0]).is_dir():
        return path
    return None


def load_model(name: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> LoadedModel:
    """Load `name`: ``organism:chat``, ``organism:base``, a checkpoint folder, or a TransformerLens name."""
    folder = resolve_checkpoint(name)
    if folder is not None:
        return load_local_checkpoint(folder, name=name, device=device, dtype=dtype)
    return load_cached_hub_model(name, device=device, dtype=dtype)


def load_local_checkpoint(folder: Path, name: str, device: str, dtype: torch.dtype) -> LoadedModel:
    check_checkpoint_folder(folder)
    try:
        hf_config = GPT2Config.from_pretrained(folder)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"{folder / 'config.json'} is not a valid model config: {error}"
        ) from error
    if hf_config.model_type != "gpt2":
        raise ModelLoadError(
            f"{folder} contains a {hf_config.model_type!r} model, but local folders load only GPT-2 "
            "checkpoints. Load other architectures by their TransformerLens name instead."
        )
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(
            folder, use_safetensors=True, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise ModelLoadError(
            f"Checkpoint {folder} is corrupt or incomplete ({error}). "
            "Rebuild it with `safety-features organism build`, or restore it with `git checkout -- checkpoints/`."
        ) from error

    cfg = hooked_config_from_gpt2(hf_config, model_name=folder.name, device=device, dtype=dtype)
    model = HookedTransformer(cfg, tokenizer=tokenizer, default_padding_side="left")
    model.load_and_process_state_dict(convert_gpt2_weights(hf_model, cfg))
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        source=str(folder),
        weights_sha256=sha256_file(folder / "model.safetensors"),
        stop_token_ids=stop_token_ids(tokenizer),
    )


def check_checkpoint_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ModelLoadError(
            f"Checkpoint folder {folder} not found. Build the organism with "
            "`safety-features organism build`, or pass an existing folder or a TransformerLens model name."
        )
    missing = [f for f in CHECKPOINT_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelLoadError(
            f"Checkpoint folder {folder} is missing {', '.join(missing)}. Rebuild it with "
            "`safety-features organism build`, or restore it with `git checkout -- checkpoints/`."
        )
    try:
        json.loads((folder / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(
            f"{folder / 'config.json'} is not valid JSON ({error}). Rebuild the checkpoint with "
            "`safety-features organism build`, or restore it with `git checkout -- checkpoints/`."
        ) from error


def hooked_config_from_gpt2(
    hf_config: GPT2Config, model_name: str, device: str, dtype: torch.dtype
) -> HookedTransformerConfig:
    """Build the HookedTransformerConfig of a GPT-2 checkpoint without contacting a hub."""
    return HookedTransformerConfig(
        d_model=hf_config.n_embd,
        d_head=hf_config.n_embd // hf_config.n_head,
        n_heads=hf_config.n_head,
        d_mlp=hf_config.n_inner or 4 * hf_config.n_embd,
        n_layers=hf_config.n_layer,
        n_ctx=hf_config.n_positions,
        d_vocab=hf_config.vocab_size,
        act_fn=hf_config.activation_function,
        eps=hf_config.layer_norm_epsilon,
        normalization_type="LN",
        positional_embedding_type="standard",
        use_attn_scale=hf_config.scale_attn_weights,
        scale_attn_by_inverse_layer_idx=hf_config.scale_attn_by_inverse_layer_idx,
        original_architecture="GPT2LMHeadModel",
        tokenizer_prepends_bos=False,
        default_prepend_bos=True,
        model_name=model_name,
        device=device,
        dtype=dtype,
    )


@contextmanager
def hub_offline() -> Iterator[None]:
    """Keep the Hugging Face hub offline inside the block: files come from the local cache.

    huggingface_hub reads HF_HUB_OFFLINE once, at import, so the environment variable alone
    does not switch a running process; its module constant is set as well.
    """
    previous_env = os.environ.get("HF_HUB_OFFLINE")
    previous_constant = hf_constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = previous_constant
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


def load_cached_hub_model(name: str, device: str, dtype: torch.dtype) -> LoadedModel:
    try:
        official = get_official_model_name(name)
    except ValueError as error:
        raise ModelLoadError(
            f"Unknown model {name!r}: it is neither a checkpoint folder nor a model TransformerLens "
            "supports. Pass 'organism:chat', a folder path, or a name from "
            "transformer_lens.loading_from_pretrained.OFFICIAL_MODEL_NAMES."
        ) from error

    # NOTE: never run where this project is tested, because no hub weights are cached there.
    # Only the unknown-name error above is covered by tests.
    try:
        with hub_offline():
            model = HookedTransformer.from_pretrained(
                official, device=device, dtype=dtype, default_padding_side="left"
            )
    except OSError as error:
        raise ModelLoadError(
            f"The weights of {official!r} are not in the local Hugging Face cache ({error}). "
            f"Download them where a network is available (`hf download {official}`, the "
            "command-line tool of huggingface_hub) and copy the cache folder here."
        ) from error
    model.eval()
    tokenizer = model.tokenizer
    assert tokenizer is not None
    return LoadedModel(model, tokenizer, name, official, None, stop_token_ids(tokenizer))


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, ...]:
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    for token in (END_OF_TURN_TOKEN, "<end_of_turn>", "<|eot_id|>", "<|im_end|>"):
        if token in vocab:
            ids.add(vocab[token])
    return tuple(sorted(i for i in ids if i is not None))


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """Load only the tokenizer of `name` (as in `load_model`), from local files."""
    folder = resolve_checkpoint(name)
    if folder is not None:
        check_checkpoint_folder(folder)
        source = str(folder)
    else:
        try:
            source = get_official_model_name(name)
        except ValueError as error:
            raise ModelLoadError(
                f"Unknown model {name!r}: pass 'organism:chat', a folder path, or a "
                "TransformerLens model name."
            ) from error
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"The tokenizer of {name!r} could not be loaded from local files ({error}). "
            "Check the folder, or download the model where a network is available."
        ) from error
