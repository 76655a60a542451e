"""Concept sets: named concepts with example passages, phrase patterns and exclusivity pairs.

A concept set file is YAML with the keys `name`, `description`, `concepts`, `exclusive` and
`background`. Each concept has a `name`, a `description`, `examples` (passages that belong to
it) and `patterns` (weighted regular expressions for the lexical scorer). `exclusive` lists
pairs of concepts that cannot hold at the same time, and `background` lists neutral passages
that set the zero level of the embedding scorer. Adding a concept needs no code: add an entry
to `concepts` and calibrate its thresholds with `safety-features calibrate-phases`.

Two optional keys build a set from others. `extends: OTHER.yaml` (a path relative to the file)
starts from that set: an entry of `concepts` with a name it already has adds its examples and
patterns to that concept, a new name adds a concept, and `exclusive` and `background` add to
the other set's lists. `labelled_examples: {data: FILE.jsonl, split: NAME}` adds the clauses of
every labelled span of that split (in the annotation format of `safety-features phases
--annotations`) to the examples of the span's concept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from safety_features.models.loading import REPOSITORY_ROOT

DEFAULT_CONCEPT_SET = REPOSITORY_ROOT / "configs" / "concepts" / "safety.yaml"
CONCEPT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SAFETY_CONCEPTS: tuple[str, ...] = ("safety", "equality")
"""Concepts whose phases count as the safety phase in the main job and the reports."""


class ConceptSetError(ValueError):
    """A concept set file that is missing, unreadable or does not fit the schema."""


@dataclass(frozen=True)
class WeightedPattern:
    """A regular expression, matched case-insensitively, and its weight in (0, 1]."""

    pattern: str
    weight: float
    regex: re.Pattern[str] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Concept:
    name: str
    description: str
    examples: tuple[str, ...]
    patterns: tuple[WeightedPattern, ...]


@dataclass(frozen=True)
class ConceptSet:
    """Concepts in file order, the exclusive pairs between them, and background passages."""

    name: str
    description: str
    concepts: tuple[Concept, ...]
    exclusive: tuple[tuple[str, str], ...]
    background: tuple[str, ...]
    path: Path | None = None
    """The file the set was loaded from, or None when built in code."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(concept.name for concept in self.concepts)

    def index(self, name: str) -> int:
        """Position of concept `name` in `names`; raise ConceptSetError if unknown."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ConceptSetError(
                f"Unknown concept {name!r} in concept set {self.name!r}: "
                f"use one of {', '.join(self.names)}."
            ) from None

    def are_exclusive(self, first: str, second: str) -> bool:
        return (first, second) in self.exclusive or (second, first) in self.exclusive

    def content_hash(self) -> str:
        """SHA-256 of everything that affects scores: examples, patterns and background."""
        content = {
            "concepts": [
                {
                    "name": c.name,
                    "examples": list(c.examples),
                    "patterns": [[p.pattern, p.weight] for p in c.patterns],
                }
                for c in self.concepts
            ],
            "background": list(self.background),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def load_concept_set(path: str | Path | None = None) -> ConceptSet:
    """Load and validate a concept set YAML file (default: the project's safety set).

    Raises ConceptSetError, naming the file, the key and the fix. The causes are a missing file,
    invalid YAML, a missing or unknown key, or a wrong type. Others are a pattern that does not
    compile, a weight outside (0, 1], a duplicate concept name, and an exclusivity pair that
    names an unknown concept. The keys that build on other files add more causes: an `extends`
    file that is missing or extends back, and `labelled_examples` that match no record or label
    a concept the set lacks.
    """
    return _load_file(Path(path) if path is not None else DEFAULT_CONCEPT_SET, ())


def _load_file(path: Path, extending: tuple[Path, ...]) -> ConceptSet:
    """Load `path`. `extending` lists the files whose `extends` led here, so cycles are caught."""
    if not path.is_file():
        raise ConceptSetError(
            f"Concept set file {path} not found: pass the path of a concept set YAML file, "
            f"for example {DEFAULT_CONCEPT_SET}."
        )
    if path.resolve() in extending:
        chain = " -> ".join(str(item) for item in (*extending, path.resolve()))
        raise ConceptSetError(
            f"Concept set files extend each other in a cycle ({chain}): break it."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConceptSetError(f"Concept set file {path} is not valid YAML: {error}") from error
    base = None
    if isinstance(data, dict) and "extends" in data:
        target = _string(data["extends"], f"{path}: extends")
        other = Path(os.path.normpath(path.parent / target))
        if not other.is_file():
            raise ConceptSetError(
                f"{path}: extends names {target!r}, but {other} is not found. Give the path "
                "of another concept set file, relative to this one."
            )
        base = _load_file(other, (*extending, path.resolve()))
    return concept_set_from_dict(data, where=str(path), path=path, base=base)


def concept_set_from_dict(
    data: Any, where: str = "concept set", path: Path | None = None, base: ConceptSet | None = None
) -> ConceptSet:
    """Build a ConceptSet from parsed YAML; errors name `where` and the key path.

    `base` is the set that the `extends` key names, already loaded; `load_concept_set` loads it.
    """
    if isinstance(data, dict) and "extends" in data and base is None:
        raise ConceptSetError(
            f"{where}: extends is resolved relative to a file; load the set with "
            "load_concept_set(PATH)."
        )
    own_lists = ("concepts", "background")
    top = _mapping(
        data,
        where,
        required=("name",) + (() if base else own_lists),
        optional=("description", "exclusive", "extends", "labelled_examples")
        + (own_lists if base else ()),
    )
    name = _string(top["name"], f"{where}: name")
    own: tuple[Concept, ...] = ()
    if "concepts" in top:
        raw_concepts = top["concepts"]
        if not isinstance(raw_concepts, list) or not raw_concepts:
            raise ConceptSetError(
                f"{where}: concepts must be a non-empty list of concept mappings."
            )
        own = tuple(
            _concept(item, f"{where}: concepts[{i}]{_name_hint(item)}")
            for i, item in enumerate(raw_concepts)
        )
    own_names = [concept.name for concept in own]
    duplicates = sorted({n for n in own_names if own_names.count(n) > 1})
    if duplicates:
        raise ConceptSetError(
            f"{where}: concept name {duplicates[0]!r} appears more than once; give each concept "
            "a unique name."
        )
    concepts = _merge_concepts(base.concepts if base else (), own)
    if "labelled_examples" in top:
        concepts = _add_labelled_examples(concepts, top["labelled_examples"], where, path)
    names = [concept.name for concept in concepts]

    exclusive = list(base.exclusive) if base else []
    for i, pair in enumerate(top.get("exclusive") or []):
        key = f"{where}: exclusive[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConceptSetError(
                f"{key} must be a pair of concept names like [safety, harmful_compliance]."
            )
        first, second = (_string(item, key) for item in pair)
        for item in (first, second):
            if item not in names:
                raise ConceptSetError(
                    f"{key} names unknown concept {item!r}: use one of {', '.join(names)}."
                )
        if first == second:
            raise ConceptSetError(f"{key} pairs concept {first!r} with itself; name two concepts.")
        if (first, second) not in exclusive and (second, first) not in exclusive:
            exclusive.append((first, second))

    background = base.background if base else ()
    if "background" in top:
        background += _strings(top["background"], f"{where}: background")
    return ConceptSet(
        name=name,
        description=_string(
            top.get("description", base.description if base else ""),
            f"{where}: description",
            allow_empty=True,
        ),
        concepts=tuple(concepts),
        exclusive=tuple(exclusive),
        background=background,
        path=path,
    )


def _merge_concepts(base: Sequence[Concept], own: Sequence[Concept]) -> list[Concept]:
    """Add each of `own` to the base concept of the same name, or append it as a new concept."""
    merged = {concept.name: concept for concept in base}
    for concept in own:
        earlier = merged.get(concept.name)
        if earlier is None:
            merged[concept.name] = concept
            continue
        merged[concept.name] = Concept(
            name=concept.name,
            description=concept.description or earlier.description,
            examples=_unique(earlier.examples + concept.examples),
            patterns=earlier.patterns + concept.patterns,
        )
    return list(merged.values())


def _add_labelled_examples(
    concepts: list[Concept], data: Any, where: str, path: Path | None
) -> list[Concept]:
    """Add the clauses of the labelled spans of one split to their concepts' examples."""
    from safety_features.phases.scorers import AnnotationError, read_annotations
    from safety_features.phases.text import text_clauses

    key = f"{where}: labelled_examples"
    entry = _mapping(data, key, required=("data", "split"), optional=())
    file = Path(_string(entry["data"], f"{key}.data"))
    if not file.is_absolute() and path is not None:
        file = path.parent / file
    split = _string(entry["split"], f"{key}.split")
    try:
        records = read_annotations(file)
    except AnnotationError as error:
        raise ConceptSetError(f"{key}.data: {error}") from error
    chosen = [record for record in records if record.get("split") == split]
    if not chosen:
        found = sorted({str(record.get("split")) for record in records})
        raise ConceptSetError(
            f"{key}.split {split!r} matches no record of {file}: use one of {', '.join(found)}."
        )

    names = [concept.name for concept in concepts]
    added: dict[str, list[str]] = {name: [] for name in names}
    for record in chosen:
        for phase in record["phases"]:
            if phase["concept"] not in added:
                raise ConceptSetError(
                    f"{key}: record {record['id']!r} of {file} labels the unknown concept "
                    f"{phase['concept']!r}: add it to the set or use one of {', '.join(names)}."
                )
            span = record["response"][phase["start"] : phase["end"]]
            added[phase["concept"]] += text_clauses(span)
    return [
        replace(concept, examples=_unique(concept.examples + tuple(added[concept.name])))
        for concept in concepts
    ]


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _name_hint(item: Any) -> str:
    """Return ' (name)' for a concept entry with a string name, so errors name the concept."""
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return f" ({item['name']})"
    return ""


def _concept(data: Any, where: str) -> Concept:
    item = _mapping(
        data, where, required=("name", "examples"), optional=("description", "patterns")
    )
    name = _string(item["name"], f"{where}.name")
    if not CONCEPT_NAME.match(name):
        raise ConceptSetError(
            f"{where}.name {name!r} is invalid: use lowercase letters, digits and underscores, "
            "starting with a letter."
        )
    patterns = []
    for i, raw in enumerate(item.get("patterns") or []):
        key = f"{where}.patterns[{i}]"
        entry = _mapping(raw, key, required=("pattern", "weight"), optional=())
        text = _string(entry["pattern"], f"{key}.pattern")
        weight = entry["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
            raise ConceptSetError(f"{key}.weight {weight!r} is invalid: use a number in (0, 1].")
        try:
            regex = re.compile(text, re.IGNORECASE)
        except re.error as error:
            raise ConceptSetError(f"{key}.pattern {text!r} does not compile: {error}.") from error
        patterns.append(WeightedPattern(text, float(weight), regex))
    return Concept(
        name=name,
        description=_string(item.get("description", ""), f"{where}.description", allow_empty=True),
        examples=_strings(item["examples"], f"{where}.examples"),
        patterns=tuple(patterns),
    )


def _mapping(data: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
    if not isinstance(data, dict):
        raise ConceptSetError(
            f"{where} must be a mapping with the keys {', '.join(required)}, got "
            f"{type(data).__name__}."
        )
    # Check unknown keys first, because a misspelled key is the usual cause of a missing one.
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ConceptSetError(
            f"{where} has unknown key {unknown[0]!r}: valid keys are "
            f"{', '.join(required + optional)}. Remove it or fix its spelling."
        )
    missing = [key for key in required if key not in data]
    if missing:
        raise ConceptSetError(f"{where} is missing the field {missing[0]!r}; add it.")
    return data


def _string(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConceptSetError(f"{where} must be a non-empty string, got {value!r}.")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConceptSetError(f"{where} must be a non-empty list of strings.")
    return tuple(_string(item, f"{where}[{i}]") for i, item in enumerate(value))
