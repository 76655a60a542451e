"""Questions to a feature index: what is feature i, which features mark a phase, which fire on
a text. Only `search` runs the model (the index's numpy export of it, or the model itself
through TransformerLens); the others read the index alone."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from safety_features.lookup.store import FeatureIndex, FeatureIndexError, LookupInputError

if TYPE_CHECKING:
    from safety_features.lookup.encoder import NumpyEncoder
    from safety_features.models.loading import LoadedModel
    from safety_features.saes.loading import LoadedSAE

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
    result: list[dict] = []
    seen: dict[tuple, dict] = {}
    for value, centre, window in zip(values, centres, windows, strict=True):
        if centre < 0 or value <= 0:
            continue
        tokens = centre + offsets
        tokens = np.where(np.isnan(window), -1, tokens)
        record = {"value": float(value), **context(index, tokens, window, int(centre))}
        # A corpus that repeats a response stores the same window more than once, so it is
        # shown once with its number of copies.
        key = (tuple(record["tokens"]), record["centre"])
        if key in seen:
            seen[key]["copies"] += 1
            continue
        record["copies"] = 1
        seen[key] = record
        result.append(record)
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


def feature_card(
    index: FeatureIndex,
    feature: int,
    roots: list[Path] | None = None,
    ranks: list[dict] | None = None,
) -> dict:
    """Collect every statistic the index stores for one feature, JSON-ready.

    Attribution ranks come from the runs under `roots`, or from `ranks` when given.
    """
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
        "attribution_ranks": ranks
        if ranks is not None
        else attribution_ranks(index, feature, roots or []),
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
    """Find the features active on texts.

    With the numpy encoder the index holds (GPT-2-style models, see `lookup.encoder`), a search
    needs neither torch nor the model. Otherwise, or with `backend="model"`, the model and SAE
    are loaded once through TransformerLens and SAELens.
    """

    def __init__(
        self, index: FeatureIndex, sae_path: str | Path | None = None, backend: str = "auto"
    ) -> None:
        if backend not in ("auto", "numpy", "model"):
            raise LookupInputError(f"backend={backend!r} is invalid: use auto, numpy or model.")
        self.index = index
        self.sae_path = Path(sae_path or index.meta["sae"]["path"])
        index.check_sae(self.sae_path)
        self.encoder: NumpyEncoder | None = None
        self.loaded: LoadedModel | None = None
        self.loaded_sae: LoadedSAE | None = None
        settings = index.meta.get("encoder", {})
        if backend != "model" and "unsupported" not in settings and settings:
            from safety_features.lookup.encoder import ENCODER_FILE, NumpyEncoder

            self.encoder = NumpyEncoder.load(index.path / ENCODER_FILE, settings)
        elif backend == "numpy":
            raise FeatureIndexError(
                f"Index {index.path} contains no numpy encoder "
                f"({settings.get('unsupported', 'index.json records none')}): "
                'search with backend="model".'
            )

    def load_model(self) -> tuple[LoadedModel, LoadedSAE]:
        """Load the model and SAE through TransformerLens and SAELens, once."""
        if self.loaded is None or self.loaded_sae is None:
            from safety_features.models.loading import load_model
            from safety_features.saes.loading import check_sae_fits, load_sae

            loaded_sae = load_sae(self.sae_path)
            loaded = load_model(self.index.meta["model"]["name"])
            check_sae_fits(loaded_sae, loaded)
            self.loaded, self.loaded_sae = loaded, loaded_sae
        return self.loaded, self.loaded_sae

    def uses_numpy(self, formatted: bool) -> bool:
        """Return whether the numpy encoder serves this search (it cannot render every chat format)."""
        return self.encoder is not None and (
            not formatted or self.encoder.settings["chat_format"] is not None
        )

    def text_tools(
        self, formatted: bool
    ) -> tuple[int | None, Callable[[str], list[int]], Callable[[str], str]]:
        """Return the BOS id, a tokenizer without special tokens, and the chat formatter of the
        path that serves this search."""
        if self.encoder is not None and self.uses_numpy(formatted):
            settings = self.encoder.settings
            tokenizer: Any = self.index.tokenizer
            wrap = settings["chat_format"] or {"prefix": "", "suffix": ""}
            return (
                settings["bos_token_id"],
                lambda piece: list(tokenizer.encode(piece, add_special_tokens=False).ids),
                lambda piece: wrap["prefix"] + piece + wrap["suffix"],
            )
        loaded, _ = self.load_model()
        return (
            loaded.tokenizer.bos_token_id,
            lambda piece: list(loaded.tokenizer(piece, add_special_tokens=False)["input_ids"]),
            loaded.format_prompt,  # as `encode_prompts` formats prompts for generation
        )

    def token_ids(self, text: str, chat: bool, prompt: str | None) -> tuple[list[int], int]:
        """Return the token ids to run, and how many leading ones are not scored."""
        bos, tokenize, format_prompt = self.text_tools(chat or prompt is not None)
        start = [bos] if bos is not None else []
        if prompt is not None:
            prompt_ids = start + tokenize(format_prompt(prompt))
            return [*prompt_ids, *tokenize(text)], len(prompt_ids)
        if chat:
            return start + tokenize(format_prompt(text)), len(start)
        return start + tokenize(text), len(start)

    def features(self, ids: list[int], formatted: bool) -> np.ndarray:
        """Compute the SAE features of every token, [len(ids), d_sae]."""
        if self.encoder is not None and self.uses_numpy(formatted):
            return self.encoder.features(ids)
        import torch

        from safety_features.saes.activations import layer_of_hook

        loaded, sae = self.load_model()
        layer = layer_of_hook(sae.hook_name)
        with torch.no_grad():
            _, cache = loaded.model.run_with_cache(
                torch.tensor([ids]),
                names_filter=sae.hook_name,
                stop_at_layer=None if layer is None else layer + 1,
            )
            return sae.sae.encode(cache[sae.hook_name][0]).float().numpy()

    def n_ctx(self) -> int:
        if self.encoder is not None:
            return int(self.encoder.settings["n_ctx"])
        loaded, _ = self.load_model()
        return int(loaded.model.cfg.n_ctx)

    def search(self, text: str, chat: bool = False, k: int = 5, prompt: str | None = None) -> dict:
        """Find the k most active features on each token of `text`, and over the whole text.

        With `chat`, the text is formatted as a user prompt first. With `prompt`, the text is
        the assistant's response to that chat-formatted prompt, and only its tokens are scored.
        BOS is never scored.
        """
        if not text.strip():
            raise LookupInputError("The text is empty: pass the text to search for features in.")
        if prompt is not None and not prompt.strip():
            raise LookupInputError(
                "The prompt is empty: pass the prompt the text responds to, or leave out --prompt."
            )
        if k <= 0:
            raise LookupInputError(f"k={k} is invalid: show at least 1 feature per token.")
        formatted = chat or prompt is not None
        ids, skip = self.token_ids(text, chat, prompt)
        if len(ids) > self.n_ctx():
            raise LookupInputError(
                f"The text has {len(ids)} tokens, more than the context window of "
                f"{self.n_ctx()}: shorten it."
            )
        features = self.features(ids, formatted)
        per_token = []
        for position in range(skip, len(ids)):
            row = features[position]
            top = np.argsort(-row, kind="stable")[:k]
            per_token.append(
                {
                    "token": self.index.token_text(ids[position]),
                    "features": [
                        {"feature": int(f), "activation": float(row[f])} for f in top if row[f] > 0
                    ],
                }
            )
        maxima = features[skip:].max(axis=0)
        overall = np.argsort(-maxima, kind="stable")[:k]
        return {
            "text": text,
            "tokens": per_token,
            "top": [
                {"feature": int(f), "max_activation": float(maxima[f])}
                for f in overall
                if maxima[f] > 0
            ],
        }
