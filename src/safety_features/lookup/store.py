"""A feature index on disk, and reading it back without torch.

An index folder contains open formats only:

    index.json            what the index was built from (SAE and model hashes, labels, corpus)
    features.safetensors  per-feature arrays, first dimension d_sae (see FEATURE_ARRAYS)
    corpus.safetensors    the corpus tokens, transcript starts, prompt lengths, phase labels
    transcripts.jsonl     each transcript's prompt, group and category
    tokenizer.json        the model's tokenizer, to show tokens without loading the model
    encoder.safetensors   the model's blocks up to the hook and the SAE encoder, for a search
                          without torch (GPT-2-style models only; see lookup/encoder.py)

Reading needs numpy, safetensors and tokenizers only, so a lookup starts fast.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDEX_FORMAT = 3
FEATURE_ARRAYS = (
    "density",
    "mean_nonzero",
    "max",
    "top_values",
    "top_tokens",
    "top_windows",
    "sample_values",
    "sample_tokens",
    "sample_windows",
    "auroc",
    "decoder_top_ids",
    "decoder_top_values",
    "decoder_bottom_ids",
    "decoder_bottom_values",
)
CORPUS_ARRAYS = ("tokens", "transcript_starts", "n_prompt", "phase_labels")
INDEX_FILES = ("index.json", "features.safetensors", "corpus.safetensors", "tokenizer.json")


class FeatureIndexError(RuntimeError):
    """A feature index that is missing, corrupt, or built for another SAE."""


class LookupInputError(ValueError):
    """A query an index cannot answer: a feature id out of range, an unknown phase, a bad text."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_command(sae_path: str | Path, index_dir: str | Path) -> str:
    return f"`safety-features build-index --sae {sae_path} --out {index_dir} --overwrite`"


@dataclass
class FeatureIndex:
    path: Path
    meta: dict
    features: dict[str, np.ndarray]
    corpus: dict[str, np.ndarray]
    transcripts: list[dict]
    tokenizer: object

    @property
    def d_sae(self) -> int:
        return int(self.meta["sae"]["d_sae"])

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    def check_feature(self, feature: int) -> None:
        if not 0 <= feature < self.d_sae:
            raise LookupInputError(
                f"Feature {feature} is out of range: the SAE of index {self.path} has features "
                f"0 to {self.d_sae - 1}."
            )

    def check_sae(self, sae_path: str | Path) -> None:
        """Raise FeatureIndexError when `sae_path` contains other weights than the index's SAE."""
        weights = Path(sae_path) / "sae_weights.safetensors"
        if not weights.is_file():
            raise FeatureIndexError(f"SAE folder {sae_path} has no sae_weights.safetensors.")
        if sha256_of(weights) != self.meta["sae"]["weights_sha256"]:
            raise FeatureIndexError(
                f"Index {self.path} was built for the SAE at {self.meta['sae']['path']} "
                f"(weights {self.meta['sae']['weights_sha256'][:12]}), not for {sae_path}: "
                f"build one for it with {build_command(sae_path, self.path)}."
            )

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([int(token_id)], skip_special_tokens=False)  # type: ignore[attr-defined]

    def transcript_of(self, token: int) -> int:
        return int(np.searchsorted(self.corpus["transcript_starts"], token, side="right") - 1)


def recorded_sae(path: Path) -> str | None:
    try:
        return json.loads((path / "index.json").read_text(encoding="utf-8"))["sae"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def open_index(path: str | Path, sae_path: str | Path | None = None) -> FeatureIndex:
    """Read an index folder; with `sae_path`, also check that it was built for that SAE.

    Every data file is checked against the SHA-256 that index.json records for it.
    """
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    path = Path(path)
    fix = build_command(sae_path or recorded_sae(path) or "SAE_FOLDER", path)
    if path.is_file():
        raise FeatureIndexError(f"{path} is a file, not a feature index folder: pass --index DIR.")
    if not path.is_dir():
        raise FeatureIndexError(f"Feature index {path} not found: build it with {fix}.")
    if not (path / "index.json").is_file() and (path / "index" / "index.json").is_file():
        raise FeatureIndexError(
            f"{path} is a run folder, not a feature index: its index is {path / 'index'}."
        )
    if not (path / "index.json").is_file() and any(path.iterdir()):
        # build-index refuses to overwrite a folder of files it did not write, so suggest a new one.
        sae_folder = sae_path or "SAE_FOLDER"
        raise FeatureIndexError(
            f"{path} is not a feature index (it has no index.json): pass an index folder to "
            f"--index, or build one into a new folder with "
            f"`safety-features build-index --sae {sae_folder} --out NEW_FOLDER`."
        )
    missing = [name for name in INDEX_FILES if not (path / name).is_file()]
    if missing:
        raise FeatureIndexError(
            f"Feature index {path} is missing {', '.join(missing)}: build it with {fix}."
        )
    current = None
    try:
        current = "index.json"
        meta = json.loads((path / current).read_text(encoding="utf-8"))
        for name, expected in meta.get("files_sha256", {}).items():
            current = name
            if sha256_of(path / name) != expected:
                raise ValueError("its content differs from the SHA-256 recorded in index.json")
        current = "features.safetensors"
        features = load_file(path / current)
        current = "corpus.safetensors"
        corpus = load_file(path / current)
        current = "transcripts.jsonl"
        lines = (path / current).read_text(encoding="utf-8").splitlines()
        transcripts = [json.loads(line) for line in lines if line.strip()]
        current = "tokenizer.json"
        tokenizer = Tokenizer.from_file(str(path / current))
    except Exception as error:  # noqa: BLE001 - any unreadable file means a corrupt index
        raise FeatureIndexError(
            f"Feature index {path} is corrupt: {current} cannot be used "
            f"({type(error).__name__}: {error}). Rebuild it with {fix}."
        ) from error
    absent = [name for name in FEATURE_ARRAYS if name not in features]
    absent += [name for name in CORPUS_ARRAYS if name not in corpus]
    if meta.get("format") != INDEX_FORMAT:
        raise FeatureIndexError(
            f"Feature index {path} was written in format {meta.get('format')}, and this version "
            f"reads format {INDEX_FORMAT}: rebuild it with {fix}."
        )
    if absent:
        raise FeatureIndexError(
            f"Feature index {path} lacks the arrays {', '.join(absent)}: rebuild it with {fix}."
        )
    index = FeatureIndex(path, meta, features, corpus, transcripts, tokenizer)
    if sae_path is not None:
        index.check_sae(sae_path)
    return index
