"""Questions to a feature index: what is feature i, which features mark a phase, which fire on
a text. Only `search` loads the model; the others read the index alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from safety_features.lookup.store import FeatureIndex, LookupInputError

CONCEPT_NAMES_NONE = "(none)"


def context(index: FeatureIndex, tokens: np.ndarray, values: np.ndarray, centre: int) -> dict:
    """Build one context record: tokens as text, the feature's activations, the centre position."""
    kept = [i for i, t in enumerate(tokens) if t >= 0]
    transcript = index.transcript_of(int(centre))
    record = index.transcripts[transcript] if transcript < len(index.transcripts) else {}
    return {
        "tokens": [index.token_text(index.corpus["tokens"][tokens[i]]) for i in kept],
        "activations": [None if math.isnan(float(values[i])) else float(values[i]) for i in kept],
        "centre": kept.index(int(np.nonzero(tokens == centre)[0][0])),
        "transcript": transcript,
        "prompt": record.get("prompt"),
        "group": record.get("group"),
        "in_response": int(centre - index.corpus["transcript_starts"][transcript])
        >= int(index.corpus["n_prompt"][transcript]),
    }


def contexts(index: FeatureIndex, feature: int, kind: str) -> list[dict]:
    values = index.features[f"{kind}_values"][feature]
    centres = index.features[f"{kind}_tokens"][feature]
    windows = index.features[f"{kind}_windows"][feature]
    offsets = np.arange(
        -index.meta["config"]["context_before"], index.meta["config"]["context_after"] + 1
    )
    result = []
    for value, centre, window in zip(values, centres, windows, strict=True):
        if centre < 0 or value <= 0:
            continue
        tokens = centre + offsets
        tokens = np.where(np.isnan(window), -1, tokens)
        result.append({"value": float(value), **context(index, tokens, window, int(centre))})
    return result


def decoder_tokens(index: FeatureIndex, feature: int, side: str) -> list[dict]:
    ids = index.features[f"decoder_{side}_ids"][feature]
    values = index.features[f"decoder_{side}_values"][feature]
    return [
        {"token": index.token_text(i), "logit": float(v)} for i, v in zip(ids, values, strict=True)
    ]


def attribution_ranks(index: FeatureIndex, feature: int, roots: list[Path]) -> list[dict]:
    """Find the feature's rank in the attribution of every run folder under `roots` that used
    this index's SAE (matched by weight hash in the run's manifest)."""
    ranks = []
    seen: set[Path] = set()
    for root in roots:
        for attribution in sorted(root.glob("*/attribution.json")) + sorted(
            root.glob("attribution.json")
        ):
            folder = attribution.parent.resolve()
            if folder in seen or not (folder / "manifest.json").is_file():
                continue
            seen.add(folder)
            try:
                manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
                ranking = json.loads(attribution.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if manifest.get("sae", {}).get("weights_sha256") != index.meta["sae"]["weights_sha256"]:
                continue
            order = ranking.get("order", [])
            rank = order.index(feature) + 1 if feature in order else None
            ranks.append({"run": str(folder), "rank": rank, "of": len(order)})
    return ranks


def feature_card(index: FeatureIndex, feature: int, roots: list[Path] | None = None) -> dict:
    """Collect every statistic the index stores for one feature, JSON-ready."""
    index.check_feature(feature)
    arrays = index.features
    return {
        "feature": feature,
        "sae": index.meta["sae"]["path"],
        "hook_name": index.meta["sae"]["hook_name"],
        "density": float(arrays["density"][feature]),
        "mean_nonzero": float(arrays["mean_nonzero"][feature]),
        "max": float(arrays["max"][feature]),
        "decoder_top_tokens": decoder_tokens(index, feature, "top"),
        "decoder_bottom_tokens": decoder_tokens(index, feature, "bottom"),
        "enrichment_auroc": {
            label: float(arrays["auroc"][feature, i]) for i, label in enumerate(index.labels)
        },
        "attribution_ranks": attribution_ranks(index, feature, roots or []),
        "top_contexts": contexts(index, feature, "top"),
        "quantile_samples": contexts(index, feature, "sample"),
    }


def top_features(
    index: FeatureIndex, label: str, n: int = 20, min_density: float = 0.0
) -> list[dict]:
    """Features ranked by AUROC for `label` (a phase concept, or "onset")."""
    if n <= 0:
        raise LookupInputError(f"n={n} is invalid: list at least 1 feature.")
    if not 0 <= min_density < 1:
        raise LookupInputError(
            f"min_density={min_density} is invalid: it is a share of tokens, from 0 up to 1."
        )
    names = index.labels
    if label == "onset":
        label = names[-1]
    if label not in names:
        raise LookupInputError(
            f"Phase {label!r} is unknown to index {index.path}: use one of "
            f"{', '.join(names[:-1])}, or onset."
        )
    column = index.features["auroc"][:, names.index(label)]
    density = index.features["density"]
    eligible = np.nonzero((density > min_density) & ~np.isnan(column))[0]
    order = eligible[np.argsort(-column[eligible], kind="stable")][:n]
    return [
        {
            "feature": int(f),
            "auroc": float(column[f]),
            "density": float(density[f]),
            "decoder_top_tokens": [t["token"] for t in decoder_tokens(index, int(f), "top")[:5]],
        }
        for f in order
    ]


class Searcher:
    """The model and SAE of an index, loaded once, to find the features active on texts."""

    def __init__(self, index: FeatureIndex, sae_path: str | Path | None = None) -> None:
        from safety_features.models.loading import load_model
        from safety_features.saes.loading import check_sae_fits, load_sae

        self.index = index
        self.loaded_sae = load_sae(sae_path or index.meta["sae"]["path"])
        index.check_sae(self.loaded_sae.path)
        self.loaded = load_model(index.meta["model"]["name"])
        check_sae_fits(self.loaded_sae, self.loaded)

    def search(self, text: str, chat: bool = False, k: int = 5, prompt: str | None = None) -> dict:
        """Find the k most active features on each token of `text`, and over the whole text.

        With `chat`, the text is formatted as a user prompt first. With `prompt`, the text is
        the assistant's response to that chat-formatted prompt, and only its tokens are scored.
        BOS is never scored.
        """
        import torch

        from safety_features.models.generation import encode_prompts
        from safety_features.saes.activations import layer_of_hook

        if not text.strip():
            raise LookupInputError("The text is empty: pass the text to search for features in.")
        loaded, sae = self.loaded, self.loaded_sae
        if k <= 0:
            raise LookupInputError(f"k={k} is invalid: show at least 1 feature per token.")
        skip = 1 if loaded.tokenizer.bos_token_id is not None else 0
        if prompt is not None:
            prompt_ids = encode_prompts(loaded, [prompt])[0]
            ids = [*prompt_ids, *loaded.tokenizer(text, add_special_tokens=False)["input_ids"]]
            skip = len(prompt_ids)
        elif chat:
            ids = encode_prompts(loaded, [text])[0]
        else:
            bos = loaded.tokenizer.bos_token_id
            ids = ([bos] if bos is not None else []) + loaded.tokenizer(
                text, add_special_tokens=False
            )["input_ids"]
        if len(ids) > loaded.model.cfg.n_ctx:
            raise LookupInputError(
                f"The text has {len(ids)} tokens, more than the context window of "
                f"{loaded.model.cfg.n_ctx}: shorten it."
            )
        layer = layer_of_hook(sae.hook_name)
        with torch.no_grad():
            _, cache = loaded.model.run_with_cache(
                torch.tensor([ids]),
                names_filter=sae.hook_name,
                stop_at_layer=None if layer is None else layer + 1,
            )
            features = sae.sae.encode(cache[sae.hook_name][0]).float()
        per_token = []
        for position in range(skip, len(ids)):
            top = torch.topk(features[position], k)
            per_token.append(
                {
                    "token": loaded.tokenizer.decode([ids[position]]),
                    "features": [
                        {"feature": int(f), "activation": float(v)}
                        for v, f in zip(top.values, top.indices, strict=True)
                        if v > 0
                    ],
                }
            )
        overall = torch.topk(features[skip:].max(dim=0).values, k)
        return {
            "text": text,
            "tokens": per_token,
            "top": [
                {"feature": int(f), "max_activation": float(v)}
                for v, f in zip(overall.values, overall.indices, strict=True)
                if v > 0
            ],
        }
