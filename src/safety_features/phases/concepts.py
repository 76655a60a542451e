"""Concept sets: named concepts with example passages, phrase patterns and exclusivity pairs.

A concept set file is YAML with the keys `name`, `description`, `concepts`, `exclusive` and
`background`. Each concept has a `name`, a `description`, `examples` (passages that belong to
it) and `patterns` (weighted regular expressions for the lexical scorer). `exclusive` lists
pairs of concepts that cannot hold at the same time, and `background` lists neutral passages
that set the zero level of the embedding scorer. Adding a concept needs no code: add an entry
to `concepts` and calibrate its thresholds with `safety-features calibrate-phases`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
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
    names an unknown concept.
    """
    path = Path(path) if path is not None else DEFAULT_CONCEPT_SET
    if not path.is_file():
        raise ConceptSetError(
            f"Concept set file {path} not found: pass the path of a concept set YAML file, "
            f"for example {DEFAULT_CONCEPT_SET}."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConceptSetError(f"Concept set file {path} is not valid YAML: {error}") from error
    return concept_set_from_dict(data, where=str(path), path=path)


def concept_set_from_dict(
    data: Any, where: str = "concept set", path: Path | None = None
) -> ConceptSet:
    """Build a ConceptSet from parsed YAML; errors name `where` and the key path."""
    top = _mapping(
        data,
        where,
        required=("name", "concepts", "background"),
        optional=("description", "exclusive"),
    )
    name = _string(top["name"], f"{where}: name")
    raw_concepts = top["concepts"]
    if not isinstance(raw_concepts, list) or not raw_concepts:
        raise ConceptSetError(f"{where}: concepts must be a non-empty list of concept mappings.")
    concepts = tuple(
        _concept(item, f"{where}: concepts[{i}]{_name_hint(item)}")
        for i, item in enumerate(raw_concepts)
    )
    names = [concept.name for concept in concepts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConceptSetError(
            f"{where}: concept name {duplicates[0]!r} appears more than once; give each concept "
            "a unique name."
        )

    exclusive = []
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
        exclusive.append((first, second))

    background = _strings(top["background"], f"{where}: background")
    return ConceptSet(
        name=name,
        description=_string(top.get("description", ""), f"{where}: description", allow_empty=True),
        concepts=concepts,
        exclusive=tuple(exclusive),
        background=background,
        path=path,
    )


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
        raise ConceptSetError(f"{where} must be a mapping, got {type(data).__name__}.")
    missing = [key for key in required if key not in data]
    if missing:
        raise ConceptSetError(f"{where} is missing the field {missing[0]!r}; add it.")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        raise ConceptSetError(
            f"{where} has unknown key {unknown[0]!r}: valid keys are "
            f"{', '.join(required + optional)}. Remove it or fix its spelling."
        )
    return data


def _string(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConceptSetError(f"{where} must be a non-empty string, got {value!r}.")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConceptSetError(f"{where} must be a non-empty list of strings.")
    return tuple(_string(item, f"{where}[{i}]") for i, item in enumerate(value))
