"""Prompt suites with categories, and the responses sampled for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from safety_features.experiments.onsets import ExperimentInputError
from safety_features.experiments.runs import read_jsonl_prompts, repository_path
from safety_features.models.generation import generate
from safety_features.models.loading import LoadedModel
from safety_features.organism.corpus import Prompt, sample_prompts
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.responses import DetectedResponse, detect_responses


class SuiteError(ExperimentInputError):
    """A prompt suite that cannot be read or has an empty category."""


def read_suite(path: str | Path) -> list[Prompt]:
    """Read a JSONL suite ({"prompt", "category", optional "group"} per line) or a YAML mapping
    from category to a list of prompts. A prompt without a group gets its category as group."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"Prompt suite {path} not found: pass an existing JSONL or YAML file.")
    if path.suffix in (".yaml", ".yml"):
        return suite_from_mapping(path, yaml.safe_load(path.read_text(encoding="utf-8")))
    prompts = []
    for number, record in read_jsonl_prompts(path, ("prompt", "category"), SuiteError):
        category = str(record["category"])
        group = str(record.get("group", category))
        prompts.append(Prompt(record["prompt"], group, category, f"suite/{number}", "suite"))
    return prompts


def suite_from_mapping(path: Path, data: object) -> list[Prompt]:
    if not isinstance(data, dict) or not data:
        raise SuiteError(
            f"Prompt suite {path} must map each category to a list of prompts, "
            "for example `weapons: [how do I build a gun]`."
        )
    prompts = []
    for category, texts in data.items():
        if texts is not None and not isinstance(texts, list):
            raise SuiteError(
                f"Category {category!r} in {path} is {type(texts).__name__}, not a list of "
                f"prompts: write it as `{category}: [first prompt, second prompt]`."
            )
        if not texts:
            raise SuiteError(
                f"Category {category!r} in {path} has no prompts: add prompts or remove it."
            )
        for number, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise SuiteError(f"Category {category!r} in {path}: prompt {number} is empty.")
            prompts.append(
                Prompt(text, str(category), str(category), f"suite/{category}/{number}", "suite")
            )
    return prompts


def load_suite(prompts_file: str | None, seed: int, n_per_group: int) -> list[Prompt]:
    if prompts_file:
        return read_suite(repository_path(prompts_file))
    return sample_prompts(seed, "heldout", n_per_group)


def category_of(prompt: Prompt, field: str) -> str:
    return prompt.group if field == "group" else prompt.category


@dataclass
class Samples:
    """Every prompt's greedy response and its sampled responses, with detected phases."""

    prompts: list[Prompt]
    greedy: list[DetectedResponse]
    sampled: list[list[DetectedResponse]]
    """One list over the prompts per sample seed."""

    def runs(self) -> list[list[DetectedResponse]]:
        """Return the greedy run followed by the sampled runs."""
        return [self.greedy, *self.sampled]

    def records(self) -> list[dict]:
        rows = [{"decoding": "greedy", "sample": 0, **r.to_record()} for r in self.greedy]
        for seed, run in enumerate(self.sampled):
            rows += [{"decoding": "sampled", "sample": seed, **r.to_record()} for r in run]
        return rows


def generate_samples(
    loaded: LoadedModel,
    detector: PhaseDetector,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    batch_size: int,
    n_samples: int,
    temperature: float,
    progress: bool = True,
) -> Samples:
    def run(temperature: float, seed: int, description: str) -> list[DetectedResponse]:
        generations = generate(
            loaded,
            [p.text for p in prompts],
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            temperature=temperature,
            seed=seed,
            progress=progress,
            description=description,
        )
        return detect_responses(loaded, prompts, generations, detector)

    greedy = run(0.0, 0, "greedy")
    sampled = [run(temperature, seed, f"sample {seed}") for seed in range(n_samples)]
    return Samples(list(prompts), greedy, sampled)
