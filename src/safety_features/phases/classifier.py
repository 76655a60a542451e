"""A trained membership scorer: all-MiniLM-L6-v2 fine-tuned to label clauses in context.

The embedding scorer compares each clause with the concept examples on its own. For some
concepts the clause alone is not enough: "Step 2: mix the two." is harmful compliance after a
request for a weapon and helpfulness after a request for a cake. The classifier reads the
clause together with the request and the clause before it,

    x = request || previous clause || clause,

and returns p(c | x) for every concept c and for "no concept" (a softmax over a linear head on
the mean-pooled MiniLM output). Every token of a clause gets the clause's probabilities.

Training data: the concept set's examples (label c, no context), its background passages
(label "no concept") and labelled responses (annotation JSONL, its dev and train splits), whose
clauses take the majority label of their tokens. Each labelled clause is seen twice, with and
without the request, so the scorer accepts responses whose prompt is unknown (it then finds
less harmful compliance).

Thresholds: the labelled responses are split into `folds`. A classifier trained without a fold
scores that fold, and the enter and exit thresholds are calibrated on these out-of-fold scores.
The final classifier is trained on all of them. Classifier and thresholds are saved together.

NOTE: the classifier learns what its labelled responses show. Trained on one model's responses,
it needs new labels before it can be trusted on another model's style.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from safety_features.files import atomic_directory, check_output_folder, sha256_file
from safety_features.phases.concepts import ConceptSet
from safety_features.phases.evaluation import Labelled, calibrate_settings, load_labelled
from safety_features.phases.scorers import (
    AnnotationScorer,
    ScorerError,
    clause_scores_to_tokens,
    cpu_has_bfloat16,
    minilm_path,
    read_annotations,
)
from safety_features.phases.segment import SegmentationSettings
from safety_features.phases.text import TokenizedText, split_clauses

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "classifier.safetensors"
META_FILE = "classifier.json"
FORMAT_VERSION = 1
SEPARATOR = " || "
NO_CONCEPT = -1


@dataclass(frozen=True)
class ClassifierTraining:
    """Fine-tuning settings of the classifier. The defaults are the ones measured in the docs."""

    epochs: int = 5
    learning_rate: float = 5e-5
    """AdamW step size for the MiniLM weights."""
    head_learning_rate: float = 1e-2
    """AdamW step size for the linear head, which starts from random weights."""
    batch_size: int = 16
    folds: int = 3
    """Folds of the labelled responses for the out-of-fold threshold calibration."""
    max_length: int = 128
    """Input length limit in MiniLM tokens. Longer inputs lose their start (the request)."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"invalid {name} {getattr(self, name)}: use a positive integer")
        if self.folds < 2:
            raise ValueError(f"invalid folds {self.folds}: use 2 or more")
        for name in ("learning_rate", "head_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"invalid {name} {getattr(self, name)}: use a positive number")


@dataclass(frozen=True)
class LabelledClause:
    """A clause of a labelled response: its text, context, and concept index (-1: none)."""

    text: str
    prompt: str
    previous: str
    label: int


def classifier_input(clause: str, prompt: str = "", previous: str = "") -> str:
    return SEPARATOR.join((prompt, previous, clause))


def concepts_fingerprint(concepts: ConceptSet) -> str:
    """SHA-256 of what the classifier learns from a concept set: names, examples, background.

    Patterns and thresholds are left out, so editing them keeps a trained classifier valid.
    """
    data = {
        "concepts": [[c.name, list(c.examples)] for c in concepts.concepts],
        "background": list(concepts.background),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def labelled_clauses(
    items: Sequence[Labelled], annotations: AnnotationScorer, concepts: ConceptSet
) -> list[list[LabelledClause]]:
    """Clauses of each labelled response, each with the majority label of its tokens."""
    result = []
    for item in items:
        scores = annotations.score([item.tokens], concepts)[0]
        clauses = split_clauses(item.tokens)
        rows = []
        for index, clause in enumerate(clauses):
            mean = scores[clause.token_start : clause.token_end].mean(axis=0)
            label = int(mean.argmax()) if mean.max() > 0.5 else NO_CONCEPT
            previous = clauses[index - 1].text if index else ""
            rows.append(LabelledClause(clause.text, item.prompt, previous, label))
        result.append(rows)
    return result


class ConceptClassifier(torch.nn.Module):
    """MiniLM, mean pooling and a linear head over "no concept" and the concepts."""

    def __init__(self, n_concepts: int, pretrained: bool = True) -> None:
        """Start from the MiniLM weights, or with `pretrained=False` from its architecture
        alone, for weights that a saved classifier then fills in."""
        super().__init__()
        path = minilm_path()
        self.encoder: PreTrainedModel = (
            AutoModel.from_pretrained(path, use_safetensors=True)
            if pretrained
            else AutoModel.from_config(AutoConfig.from_pretrained(path))
        )
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.truncation_side = "left"  # keep the clause, which comes last
        width = int(self.encoder.config.hidden_size)
        self.head = torch.nn.Linear(width, n_concepts + 1)

    def forward(self, inputs: Sequence[str], max_length: int = 128) -> torch.Tensor:
        """Return logits of shape (len(inputs), 1 + concepts), with "no concept" in column 0."""
        batch = self.tokenizer(
            list(inputs),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        hidden = self.encoder(**batch).last_hidden_state  # "batch pos d_model"
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
        return self.head(pooled)


def _training_pairs(
    concepts: ConceptSet, clauses: Sequence[LabelledClause]
) -> list[tuple[str, int]]:
    pairs = [
        (classifier_input(example), index)
        for index, concept in enumerate(concepts.concepts)
        for example in concept.examples
    ]
    pairs += [(classifier_input(passage), NO_CONCEPT) for passage in concepts.background]
    for clause in clauses:
        pairs.append((classifier_input(clause.text, clause.prompt, clause.previous), clause.label))
        pairs.append((classifier_input(clause.text, "", clause.previous), clause.label))
    return pairs


def train_classifier(
    concepts: ConceptSet,
    clauses: Sequence[LabelledClause],
    training: ClassifierTraining = ClassifierTraining(),
    progress: bool = True,
    description: str = "train classifier",
) -> ConceptClassifier:
    """Fine-tune MiniLM and a new head on the concept examples and the labelled clauses.

    The global torch random state is left as it was: training seeds a forked copy.
    """
    with torch.random.fork_rng():
        torch.manual_seed(training.seed)
        return _train(concepts, clauses, training, progress, description)


def _train(
    concepts: ConceptSet,
    clauses: Sequence[LabelledClause],
    training: ClassifierTraining,
    progress: bool,
    description: str,
) -> ConceptClassifier:
    order = random.Random(training.seed)
    model = ConceptClassifier(len(concepts.concepts))
    pairs = _training_pairs(concepts, clauses)
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": training.learning_rate},
            {"params": model.head.parameters(), "lr": training.head_learning_rate},
        ]
    )
    steps = training.epochs * -(-len(pairs) // training.batch_size)
    # disable=None hides the bar when stderr is not a terminal, such as a log file.
    bar = tqdm(total=steps, desc=description, disable=None if progress else True, unit="step")
    model.train()
    for _ in range(training.epochs):
        order.shuffle(pairs)
        for start in range(0, len(pairs), training.batch_size):
            batch = pairs[start : start + training.batch_size]
            logits = model([text for text, _ in batch], training.max_length)
            targets = torch.tensor([label + 1 for _, label in batch])
            loss = torch.nn.functional.cross_entropy(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    return model


class ClassifierDataError(ValueError):
    """Labelled data that cannot train a classifier: no responses of the split, or fewer than
    the folds."""


class ClassifierScorer:
    """Concept probabilities per token from a trained ConceptClassifier.

    `score` takes the requests as `prompts` (one per text). Without them it scores the clauses
    with an empty request, the form of half of its labelled training clauses, and logs a
    warning once, since its accuracy without the request is lower.
    """

    name = "classifier"
    uses_prompts = True

    def __init__(
        self,
        model: ConceptClassifier,
        concepts_hash: str,
        concept_names: tuple[str, ...],
        settings: SegmentationSettings | None = None,
        training: ClassifierTraining = ClassifierTraining(),
        provenance: dict[str, Any] | None = None,
        batch_size: int = 64,
        bfloat16: bool | None = None,
    ) -> None:
        self.model = model.eval()
        self.concepts_hash = concepts_hash
        """`concepts_fingerprint` of the concept set the classifier was trained on."""
        self.concept_names = concept_names
        self.settings = settings
        self.training = training
        self.provenance = provenance or {}
        self.batch_size = batch_size
        self.bfloat16 = cpu_has_bfloat16() if bfloat16 is None else bfloat16
        self.path: Path | None = None
        """The folder the classifier was saved to or loaded from."""
        self.weights_sha256: str | None = None
        self._warned_without_prompts = False

    def probabilities(self, inputs: Sequence[str]) -> np.ndarray:
        """Return p(concept | input), shape (len(inputs), concepts), without "no concept"."""
        rows = []
        with (
            torch.no_grad(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16),
        ):
            for start in range(0, len(inputs), self.batch_size):
                chunk = inputs[start : start + self.batch_size]
                logits = self.model(chunk, self.training.max_length).float()
                rows.append(torch.softmax(logits, dim=-1)[:, 1:].numpy())
        if not rows:
            return np.zeros((0, len(self.concept_names)), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32)

    def check_concepts(self, concepts: ConceptSet) -> None:
        """Raise ScorerError unless `concepts` has the names, examples and background trained on."""
        if concepts_fingerprint(concepts) != self.concepts_hash:
            where = f"The classifier in {self.path}" if self.path else "This classifier"
            raise ScorerError(
                f"{where} was trained on other concepts, examples or background passages than "
                f"those of the concept set {concepts.name!r} (trained on: "
                f"{', '.join(self.concept_names)}): train it again with `safety-features "
                "train-classifier` on the concept set you pass."
            )

    def record(self) -> dict[str, Any]:
        """Describe the classifier for run manifests: its folder and weights hash."""
        return {
            "classifier": str(self.path) if self.path else None,
            "classifier_weights_sha256": self.weights_sha256,
        }

    def score(
        self,
        texts: Sequence[TokenizedText],
        concepts: ConceptSet,
        prompts: Sequence[str] | None = None,
    ) -> list[np.ndarray]:
        self.check_concepts(concepts)
        if prompts is not None and len(prompts) != len(texts):
            raise ValueError(f"got {len(prompts)} prompts for {len(texts)} responses")
        missing = len(texts) if prompts is None else sum(not p.strip() for p in prompts)
        if missing and not self._warned_without_prompts:
            logger.warning(
                "The classifier scores %d of %d responses without their requests; pass "
                "prompts for its full accuracy",
                missing,
                len(texts),
            )
            self._warned_without_prompts = True
        clauses = [split_clauses(tokens) for tokens in texts]
        inputs = []
        for index, per_text in enumerate(clauses):
            prompt = prompts[index] if prompts is not None else ""
            for position, clause in enumerate(per_text):
                previous = per_text[position - 1].text if position else ""
                inputs.append(classifier_input(clause.text, prompt, previous))
        flat = self.probabilities(inputs)
        results, position = [], 0
        for tokens, per_text in zip(texts, clauses, strict=True):
            rows = flat[position : position + len(per_text)]
            position += len(per_text)
            results.append(clause_scores_to_tokens(tokens, per_text, rows))
        return results

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the weights (safetensors) and classifier.json into the folder `path`, whole.

        `path` must be new, empty, or with `overwrite` an earlier classifier folder.
        """
        path = check_output_folder(path, META_FILE, overwrite)
        meta = {
            "format_version": FORMAT_VERSION,
            "base_model": "sentence-transformers/all-MiniLM-L6-v2",
            "concepts_hash": self.concepts_hash,
            "concept_names": list(self.concept_names),
            "settings": self.settings.to_dict() if self.settings else None,
            "training": asdict(self.training),
            "provenance": self.provenance,
        }
        problem = _meta_problem(meta)
        if problem:  # refuse to write a folder that `load` would reject
            raise ScorerError(f"cannot save the classifier to {path}: {problem}")
        with atomic_directory(path) as temporary:
            tensors = {k: v.contiguous() for k, v in self.model.state_dict().items()}
            save_file(tensors, str(temporary / WEIGHTS_FILE))
            meta["weights_sha256"] = sha256_file(temporary / WEIGHTS_FILE)
            (temporary / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
        self.path, self.weights_sha256 = path, str(meta["weights_sha256"])
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClassifierScorer:
        """Read a classifier folder written by `save`, loading weights only through safetensors.

        The weights are checked against their SHA-256 in classifier.json. The rest of that file
        is validated but not hashed.
        """
        path = Path(path)
        meta = _read_meta(path)
        weights = path / WEIGHTS_FILE
        if sha256_file(weights) != meta["weights_sha256"]:
            raise ScorerError(
                f"{weights} does not match the hash in {path / META_FILE}: the folder is "
                "damaged or was edited, so train the classifier again."
            )
        names = tuple(meta["concept_names"])
        model = ConceptClassifier(len(names), pretrained=False)
        tensors = load_file(str(weights))
        head = tensors.get("head.weight")
        outputs = 0 if head is None else head.shape[0] - 1  # the first output is "no concept"
        if outputs != len(names):
            raise ScorerError(
                f"{weights} has {outputs} concept outputs, but {path / META_FILE} names "
                f"{len(names)} concepts: train the classifier again."
            )
        try:
            model.load_state_dict(tensors)
            settings = meta["settings"]
            scorer = cls(
                model,
                meta["concepts_hash"],
                names,
                SegmentationSettings(**settings) if settings else None,
                ClassifierTraining(**meta["training"]),
                meta.get("provenance", {}),
            )
        except (RuntimeError, TypeError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ScorerError(
                f"{path} does not contain a classifier this version can read ({first_line}): "
                "train the classifier again."
            ) from error
        scorer.path, scorer.weights_sha256 = path, meta["weights_sha256"]
        return scorer


META_KEYS = ("concepts_hash", "concept_names", "settings", "training", "weights_sha256")


def _read_meta(path: Path) -> dict:
    meta_file = path / META_FILE
    if not path.exists():
        raise ScorerError(
            f"Classifier folder {path} not found: pass a folder written by "
            "`safety-features train-classifier --out DIR`."
        )
    if not meta_file.is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ScorerError(
            f"{path} is not a classifier folder (it needs {META_FILE} and {WEIGHTS_FILE}): "
            "write one with `safety-features train-classifier --out DIR`."
        )
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise ScorerError(f"{meta_file} is not valid JSON ({error}): train again.") from error
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise ScorerError(
            f"{meta_file} has format {version!r}, this version reads {FORMAT_VERSION}: "
            "train the classifier again."
        )
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ScorerError(
            f"{meta_file} is missing {', '.join(missing)}: the file was edited or cut short, "
            "so train the classifier again."
        )
    problem = _meta_problem(meta)
    if problem:
        raise ScorerError(
            f"{meta_file}: {problem}. The file was edited: train the classifier again."
        )
    return meta


def _meta_problem(meta: dict) -> str | None:
    """Describe the first invalid value of a classifier.json, or return None."""
    names = meta["concept_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        return f"concept_names={names!r} is not a list of concept names"
    settings = meta["settings"]
    if settings is None:
        return None
    for key in ("enter", "exit"):
        thresholds = settings.get(key) if isinstance(settings, dict) else None
        if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(names):
            return f"settings.{key} does not give one threshold per concept of concept_names"
        for name, value in thresholds.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                return f"settings.{key}.{name}={value!r} is invalid: probabilities lie in [0, 1]"
    return None


def out_of_fold_scores(
    items: Sequence[Labelled],
    clauses: Sequence[Sequence[LabelledClause]],
    concepts: ConceptSet,
    training: ClassifierTraining,
    progress: bool,
) -> list[np.ndarray]:
    """Token scores of every response from a classifier trained without its fold.

    Scored in float32, so the thresholds calibrated on them do not depend on whether the CPU
    has bfloat16 instructions.
    """
    folds = [index % training.folds for index in range(len(items))]
    scores: list[np.ndarray | None] = [None] * len(items)
    for fold in range(training.folds):
        train_rows = [c for i, rows in enumerate(clauses) if folds[i] != fold for c in rows]
        model = train_classifier(
            concepts, train_rows, training, progress, f"fold {fold + 1}/{training.folds}"
        )
        scorer = ClassifierScorer(
            model, concepts_fingerprint(concepts), concepts.names, training=training, bfloat16=False
        )
        held = [i for i in range(len(items)) if folds[i] == fold]
        fold_scores = scorer.score(
            [items[i].tokens for i in held], concepts, [items[i].prompt for i in held]
        )
        for i, item_scores in zip(held, fold_scores, strict=True):
            scores[i] = item_scores
    complete = [s for s in scores if s is not None]
    assert len(complete) == len(items), "every response belongs to one fold"
    return complete


def train_classifier_scorer(
    data: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    concepts: ConceptSet,
    split: str = "dev,train",
    training: ClassifierTraining = ClassifierTraining(),
    progress: bool = True,
) -> tuple[ClassifierScorer, float]:
    """Train on the `split` of labelled `data`, with thresholds from out-of-fold scores.

    `split` names one split or several, comma-separated ("dev,train"); every one must be in
    the data. Returns the scorer and the out-of-fold onset F1 that its thresholds reach on
    those responses.
    """
    data_sha256 = sha256_file(data)
    splits = list(dict.fromkeys(name.strip() for name in split.split(",") if name.strip()))
    present = sorted({str(record.get("split")) for record in read_annotations(data)})
    missing = [name for name in splits if name not in present]
    if not splits or missing:
        problem = (
            f"has no responses of split {', '.join(map(repr, missing))}"
            if missing
            else f"cannot be read with --split {split!r}, which names no split"
        )
        raise ClassifierDataError(
            f"{data} {problem}: use its splits ({', '.join(present)}), comma-separated, "
            "with --split."
        )
    split = ",".join(splits)
    items = [item for name in splits for item in load_labelled(data, tokenizer, split=name)]
    if len(items) < training.folds:
        raise ClassifierDataError(
            f"{data} has {len(items)} responses of split {split!r}, fewer than the "
            f"{training.folds} folds: label more responses, pick another --split, or lower "
            "--folds."
        )
    without_prompt = sum(not item.prompt.strip() for item in items)
    if without_prompt:
        logger.warning(
            "%d of %d %s responses in %s have no prompt; the classifier learns them without "
            "the request",
            without_prompt,
            len(items),
            split,
            data,
        )
    annotations = AnnotationScorer.from_jsonl(data)
    clauses = labelled_clauses(items, annotations, concepts)
    scores = out_of_fold_scores(items, clauses, concepts, training, progress)
    settings, f1 = calibrate_settings(items, scores, concepts, "classifier")
    model = train_classifier(
        concepts, [c for rows in clauses for c in rows], training, progress, "final classifier"
    )
    provenance = {
        "data": str(data),
        "data_sha256": data_sha256,
        "split": split,
        "n_responses": len(items),
        "n_clauses": sum(len(rows) for rows in clauses),
        "out_of_fold_onset_f1": f1,
    }
    scorer = ClassifierScorer(
        model, concepts_fingerprint(concepts), concepts.names, settings, training, provenance
    )
    return scorer, f1
