"""Text to SAE features with numpy alone, so that `safety-features search` returns in well under
a second from a new process.

On a 2-core CPU, importing torch takes about 1 second and TransformerLens with SAELens about 4.5
(docs/benchmarks.md). A search needs only the blocks below the SAE's hook and the SAE's encoder,
so the index builder exports them once (`export_encoder`, into `encoder.safetensors`). The
weights come from the HookedTransformer after TransformerLens has processed them (folded layer
norms, centred writing weights), so the residual stream is the one the SAE was trained on.
`NumpyEncoder` then runs that forward pass with numpy.

The export covers GPT-2-style models (learned positions, LayerNorm, a tanh GELU or ReLU MLP,
plain causal attention) and the SAELens standard, JumpReLU and TopK encoders without input
normalisation, at any block's hook_resid_pre, hook_resid_mid or hook_resid_post. For anything
else `unsupported_reason` names what is missing, no encoder file is written, and search loads
the model through TransformerLens and SAELens instead. The tests compare both paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_FILE = "encoder.safetensors"
TANH_GELUS = ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")
RESID_HOOK = re.compile(r"^blocks\.(\d+)\.hook_resid_(pre|mid|post)$")
PROMPT_MARK = "\x00PROMPT\x00"
# HookedTransformerConfig options that change the forward pass when they differ from their
# defaults (TransformerLens 3.9). The numpy encoder implements none of them.
FORWARD_OPTIONS = (
    "attn_only",
    "attention_dir",
    "use_local_attn",
    "attn_types",
    "attn_scores_soft_cap",
    "post_embedding_ln",
    "use_normalization_before_and_after",
    "use_qk_norm",
    "clip_qkv",
    "use_attention_sinks",
    "use_logn_attn",
    "num_experts",
)


def changed_forward_options(cfg) -> list[str]:
    """Return the FORWARD_OPTIONS that `cfg` sets away from their defaults."""
    fields = getattr(type(cfg), "__dataclass_fields__", {})
    return [
        name
        for name in FORWARD_OPTIONS
        if name in fields and getattr(cfg, name) != fields[name].default
    ]


def unsupported_reason(loaded, loaded_sae) -> str | None:
    """Return why this model and SAE cannot be exported for the numpy encoder, or None."""
    cfg = loaded.model.cfg
    sae_cfg = loaded_sae.sae.cfg
    checks = [
        (RESID_HOOK.match(loaded_sae.hook_name) is not None, f"hook {loaded_sae.hook_name}"),
        (cfg.original_architecture == "GPT2LMHeadModel", f"{cfg.original_architecture} models"),
        (cfg.normalization_type in ("LN", "LNPre"), f"{cfg.normalization_type} normalisation"),
        (cfg.positional_embedding_type == "standard", f"{cfg.positional_embedding_type} positions"),
        (cfg.act_fn in (*TANH_GELUS, "relu"), f"activation {cfg.act_fn}"),
        (not cfg.gated_mlp and not cfg.parallel_attn_mlp, "gated or parallel MLPs"),
        (not cfg.scale_attn_by_inverse_layer_idx, "attention scaled by layer index"),
        (cfg.n_key_value_heads is None, "grouped-query attention"),
        (sae_cfg.architecture() in ("standard", "jumprelu", "topk"), "this SAE architecture"),
        (sae_cfg.normalize_activations == "none", "SAE input normalisation"),
        (getattr(sae_cfg, "reshape_activations", "none") == "none", "reshaped SAE inputs"),
    ]
    missing = [what for ok, what in checks if not ok]
    missing += [f"{name}={getattr(cfg, name)!r}" for name in changed_forward_options(cfg)]
    return f"the numpy encoder does not support {', '.join(missing)}" if missing else None


def chat_format(loaded) -> dict[str, str] | None:
    """Return the chat format as the text before and after the prompt, or None when the
    template does more than wrap the prompt."""
    # NOTE: two probe prompts cannot catch a template that rewrites the prompt text in rarer
    # ways (escaping, a date); such a template would need the model path.
    prefix, _, suffix = loaded.format_prompt(PROMPT_MARK).partition(PROMPT_MARK)
    for probe in ("how do I bake bread?", "  Two\nlines  "):
        if loaded.format_prompt(probe) != prefix + probe + suffix:
            return None
    return {"prefix": prefix, "suffix": suffix}


def export_encoder(loaded, loaded_sae) -> tuple[dict[str, np.ndarray], dict]:
    """Collect the arrays and settings `NumpyEncoder` needs. Raise ValueError when unsupported."""
    import torch

    reason = unsupported_reason(loaded, loaded_sae)
    if reason:
        raise ValueError(reason)
    layer, stage = RESID_HOOK.match(loaded_sae.hook_name).groups()  # type: ignore[union-attr]
    layer = int(layer)
    n_blocks = layer + (stage == "post")
    keep = ["embed.W_E", "pos_embed.W_pos"]
    keep += [f"blocks.{i}." for i in range(n_blocks)]
    if stage == "mid":
        keep += [f"blocks.{layer}.ln1.", f"blocks.{layer}.attn."]
    state = loaded.model.state_dict()
    arrays = {
        name: tensor.detach().float().cpu().numpy()
        for name, tensor in state.items()
        if any(name.startswith(prefix) for prefix in keep) and not name.endswith(("IGNORE", "mask"))
    }
    sae = loaded_sae.sae
    sae_cfg = sae.cfg
    with torch.no_grad():
        b_in = sae.b_dec if sae_cfg.apply_b_dec_to_input else torch.zeros_like(sae.b_dec)
        rescale = sae_cfg.architecture() == "topk" and sae_cfg.rescale_acts_by_decoder_norm
        scale = sae.W_dec.norm(dim=-1) if rescale else torch.ones_like(sae.b_enc)
        threshold = (
            sae.threshold if sae_cfg.architecture() == "jumprelu" else torch.zeros_like(sae.b_enc)
        )
        for name, tensor in {
            "sae.W_enc": sae.W_enc,
            "sae.b_enc": sae.b_enc,
            "sae.b_in": b_in,
            "sae.scale": scale,
            "sae.threshold": threshold,
        }.items():
            arrays[name] = tensor.detach().float().cpu().numpy().copy()
    cfg = loaded.model.cfg
    settings = {
        "hook_name": loaded_sae.hook_name,
        "n_blocks": n_blocks,
        "attention_in_last_block": stage == "mid",
        "layer_norm": cfg.normalization_type,
        "eps": float(cfg.eps),
        "act_fn": cfg.act_fn,
        "attn_scale": float(cfg.attn_scale) if cfg.use_attn_scale else 1.0,
        "n_ctx": int(cfg.n_ctx),
        "sae_architecture": sae_cfg.architecture(),
        "k": int(getattr(sae_cfg, "k", 0) or 0),
        "bos_token_id": loaded.tokenizer.bos_token_id,
        "chat_format": chat_format(loaded),
    }
    return arrays, settings


def write_encoder(folder: Path, loaded, loaded_sae) -> dict:
    """Write encoder.safetensors into an index folder being built. Return its settings for
    index.json, or the reason it was skipped."""
    from safetensors.numpy import save_file

    try:
        arrays, settings = export_encoder(loaded, loaded_sae)
    except ValueError as error:
        return {"unsupported": str(error)}
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / ENCODER_FILE))
    return settings


def layer_norm(x: np.ndarray, eps: float, weights: dict, prefix: str) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    x = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    if f"{prefix}.w" in weights:
        x = x * weights[f"{prefix}.w"] + weights[f"{prefix}.b"]
    return x


def activation(x: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    inner = np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x**3)
    return np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))


@dataclass
class NumpyEncoder:
    """The exported blocks and SAE encoder of an index. `features(ids)` gives [tokens, d_sae]."""

    weights: dict[str, np.ndarray]
    settings: dict

    @classmethod
    def load(cls, path: str | Path, settings: dict) -> NumpyEncoder:
        from safetensors.numpy import load_file

        return cls(load_file(str(path)), settings)

    def attention(self, x: np.ndarray, prefix: str) -> np.ndarray:
        w = self.weights
        q = np.einsum("pd,hde->hpe", x, w[f"{prefix}.W_Q"]) + w[f"{prefix}.b_Q"][:, None]
        k = np.einsum("pd,hde->hpe", x, w[f"{prefix}.W_K"]) + w[f"{prefix}.b_K"][:, None]
        v = np.einsum("pd,hde->hpe", x, w[f"{prefix}.W_V"]) + w[f"{prefix}.b_V"][:, None]
        scores = q @ k.transpose(0, 2, 1) / np.float32(self.settings["attn_scale"])
        n = x.shape[0]
        scores = np.where(np.tri(n, dtype=bool), scores, -np.inf)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        pattern = scores / scores.sum(axis=-1, keepdims=True)
        z = pattern @ v
        return np.einsum("hpe,hed->pd", z, w[f"{prefix}.W_O"]) + w[f"{prefix}.b_O"]

    def residual(self, ids: list[int]) -> np.ndarray:
        w, s = self.weights, self.settings
        x = w["embed.W_E"][ids] + w["pos_embed.W_pos"][: len(ids)]
        for block in range(s["n_blocks"]):
            prefix = f"blocks.{block}"
            x = x + self.attention(layer_norm(x, s["eps"], w, f"{prefix}.ln1"), f"{prefix}.attn")
            hidden = layer_norm(x, s["eps"], w, f"{prefix}.ln2") @ w[f"{prefix}.mlp.W_in"]
            hidden = activation(hidden + w[f"{prefix}.mlp.b_in"], s["act_fn"])
            x = x + hidden @ w[f"{prefix}.mlp.W_out"] + w[f"{prefix}.mlp.b_out"]
        if s["attention_in_last_block"]:
            prefix = f"blocks.{s['n_blocks']}"
            x = x + self.attention(layer_norm(x, s["eps"], w, f"{prefix}.ln1"), f"{prefix}.attn")
        return x

    def encode(self, residual: np.ndarray) -> np.ndarray:
        w = self.weights
        hidden = (residual - w["sae.b_in"]) @ w["sae.W_enc"] + w["sae.b_enc"]
        if self.settings["sae_architecture"] != "topk":
            return np.where(hidden > w["sae.threshold"], np.maximum(hidden, 0.0), 0.0)
        hidden = hidden * w["sae.scale"]
        k = self.settings["k"]
        top = np.argpartition(-hidden, k - 1, axis=-1)[:, :k]
        result = np.zeros_like(hidden)
        rows = np.arange(hidden.shape[0])[:, None]
        result[rows, top] = np.maximum(hidden[rows, top], 0.0)
        return result

    def features(self, ids: list[int]) -> np.ndarray:
        """Compute the SAE feature activations of every token of `ids`, float32 [len(ids), d_sae]."""
        return self.encode(self.residual(ids)).astype(np.float32)
