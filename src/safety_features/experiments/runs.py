"""Run folders of `safety-features attribute` and `safety-features steer`.

Every run folder contains the resolved config (`config.yaml`), a provenance manifest
(`manifest.json`: model and SAE hashes, prompts, detector config, seeds, intervention schedule),
`metrics.json`, `attribution.json`, plots, and every response (`responses.jsonl`). The folder
is written under a temporary name and renamed when the run has finished.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

import safety_features
from safety_features.config import config_to_dict
from safety_features.experiments.conditions import ExperimentContext
from safety_features.experiments.config import ExperimentConfig, SteeringConfig
from safety_features.experiments.onsets import (
    AttributionResult,
    ExperimentInputError,
    attribution_stage,
    check_suppression_sizes,
    prompt_groups_needed,
    steering_stage,
    suppression_curve_features,
)
from safety_features.experiments.plots import plot_attribution, write_plots
from safety_features.files import (
    atomic_directory,
    check_output_folder,
    sha256_file,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.models.generation import check_prompt_lengths, encode_prompts
from safety_features.models.loading import REPOSITORY_ROOT, LoadedModel, load_model
from safety_features.organism.corpus import GROUPS, Prompt, sample_prompts
from safety_features.paths import repository_path
from safety_features.phases.detect import PhaseDetector
from safety_features.saes.loading import LoadedSAE, check_sae_fits, load_sae
from safety_features.saes.tracking import start_tracking
from safety_features.steering.interventions import check_feature_ids

logger = logging.getLogger(__name__)


LOGGED_KEYS = (
    "attribution",
    "summary",
    "conditions",
    "side_effects",
    "dose_response",
    "suppression_curve",
)
"""Parts of metrics.json logged to W&B, as flat "part/name/..." numbers."""


@dataclass(frozen=True)
class ExperimentResult:
    out_dir: Path
    metrics: dict


class PromptSuiteError(ExperimentInputError):
    """A prompt suite file that cannot be read."""


def read_jsonl_prompts(
    path: str | Path, required: Sequence[str], error: type[Exception]
) -> list[tuple[int, dict]]:
    """Read a JSONL prompt file as (line number, record) pairs, blank lines skipped.

    Every record must be a JSON object with the `required` keys and a non-empty "prompt";
    otherwise `error` is raised with the file, the line and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"Prompt suite {path} not found: pass an existing JSONL file.")
    expected = " and ".join(repr(key) for key in required)
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            values = [record[key] for key in required]
        except (json.JSONDecodeError, KeyError, TypeError) as exception:
            raise error(
                f"{path}, line {number}: expected a JSON object with {expected} "
                f"({type(exception).__name__}: {exception})."
            ) from exception
        text = values[0]
        if not isinstance(text, str) or not text.strip():
            raise error(f"{path}, line {number}: the prompt is empty.")
        records.append((number, record))
    if not records:
        raise error(f"Prompt suite {path} has no prompts.")
    return records


def read_prompt_suite(path: str | Path) -> list[Prompt]:
    """Read {"prompt", "group", optional "category"} lines; groups as in the organism."""
    prompts = []
    for number, record in read_jsonl_prompts(path, ("prompt", "group"), PromptSuiteError):
        group = record["group"]
        if group not in GROUPS:
            raise PromptSuiteError(
                f"{path}, line {number}: group {group!r} is unknown; use one of {', '.join(GROUPS)}."
            )
        category = str(record.get("category", group))
        prompts.append(Prompt(record["prompt"], group, category, f"suite/{number}", "suite"))
    return prompts


def experiment_prompts(config: ExperimentConfig) -> list[Prompt]:
    if config.prompts_file:
        return read_prompt_suite(repository_path(config.prompts_file))
    return sample_prompts(config.seed, "heldout", config.n_prompts_per_group)


def read_attribute_run(folder: str | Path, k: int) -> tuple[list[int], dict]:
    """Return the first k selected features of an `attribute` run folder, and its manifest.

    Checked before any model is loaded: the folder must be an attribute run (attribution.json
    beside manifest.json) that selected at least k features.
    """
    folder = Path(folder)
    fix = (
        "point features_from (or --features-from) at a folder written by "
        "`safety-features attribute --out DIR`"
    )
    try:
        attribution = json.loads((folder / "attribution.json").read_text(encoding="utf-8"))
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        selected = [int(f) for f in attribution["selected_features"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ExperimentInputError(
            f"features_from={folder} is not a readable attribute run "
            f"({type(error).__name__}: {error}): {fix}."
        ) from error
    if len(selected) < k:
        raise ExperimentInputError(
            f"The attribute run in {folder} selected {len(selected)} features but n_features is "
            f"{k}: lower n_features, or rerun attribute with steering.n_features: {k}."
        )
    return selected[:k], manifest


def check_same_sae(folder: str | Path, manifest: dict, loaded_sae: LoadedSAE) -> None:
    if manifest.get("sae", {}).get("weights_sha256") != sae_weights_sha256(loaded_sae):
        raise ExperimentInputError(
            f"The attribute run in {folder} used another SAE than {loaded_sae.path}: rerun "
            "`safety-features attribute` with this SAE."
        )


def sae_weights_sha256(loaded_sae: LoadedSAE) -> str | None:
    weights = Path(loaded_sae.path) / "sae_weights.safetensors"
    return sha256_file(weights) if weights.is_file() else None


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPOSITORY_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def manifest(context: ExperimentContext, config: dict, command: str) -> dict:
    loaded, loaded_sae, detector = context.loaded, context.loaded_sae, context.detector
    return {
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "safety_features_version": safety_features.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "model": {
            "name": loaded.name,
            "source": loaded.source,
            "weights_sha256": loaded.weights_sha256,
        },
        "sae": {
            "path": str(loaded_sae.path),
            "weights_sha256": sae_weights_sha256(loaded_sae),
            "hook_name": loaded_sae.hook_name,
            "d_sae": loaded_sae.sae.cfg.d_sae,
        },
        "detector": {
            **detector.scorer_record(),
            "concept_set": str(detector.concepts.path),
            "concept_set_sha256": detector.concepts.content_hash(),
            "settings": detector.settings.to_dict(),
        },
        "cross_check_detector": (
            None
            if context.cross_detector is None
            else {
                **context.cross_detector.scorer_record(),
                "settings": context.cross_detector.settings.to_dict(),
            }
        ),
        "seeds": list(context.seeds),
        "temperature": context.temperature,
        "max_new_tokens": context.max_new_tokens,
        "prompts": [
            {"prompt": p.text, "group": p.group, "category": p.category} for p in context.prompts
        ],
        "intervention_schedule": context.schedule,
        "config": config,
    }


def prepare(
    config: ExperimentConfig, progress: bool
) -> tuple[LoadedModel, LoadedSAE, PhaseDetector, PhaseDetector | None, list[Prompt]]:
    """Load everything and check every input, before any generation starts."""
    prompts = experiment_prompts(config)
    prompt_groups_needed(prompts, ("harmful", "benign"))
    loaded = load_model(config.model)
    check_prompt_lengths(
        loaded, encode_prompts(loaded, [p.text for p in prompts]), config.max_new_tokens
    )
    loaded_sae = load_sae(repository_path(config.sae_path))
    check_sae_fits(loaded_sae, loaded)
    check_feature_ids(config.steering.features, loaded_sae.sae.cfg.d_sae)
    check_suppression_sizes(config.steering.suppression_sizes, loaded_sae.sae.cfg.d_sae)
    concepts = repository_path(config.concepts) if config.concepts else None
    detector = PhaseDetector(loaded.tokenizer, concepts, config.phase_scorer)
    cross_detector = cross_check_detector(loaded, concepts, config.cross_check_scorer)
    return loaded, loaded_sae, detector, cross_detector, prompts


def cross_check_detector(
    loaded: LoadedModel, concepts: Path | None, scorer: str | None
) -> PhaseDetector | None:
    return None if scorer is None else PhaseDetector(loaded.tokenizer, concepts, scorer)


def context_for(
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    detector: PhaseDetector,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    batch_size: int,
    steering: SteeringConfig,
    progress: bool = True,
    cross_detector: PhaseDetector | None = None,
) -> ExperimentContext:
    return ExperimentContext(
        loaded=loaded,
        loaded_sae=loaded_sae,
        detector=detector,
        cross_detector=cross_detector,
        prompts=list(prompts),
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        temperature=steering.temperature,
        seeds=tuple(steering.seeds),
        n_bootstrap=steering.n_bootstrap,
        progress=progress,
    )


def write_attribution(folder: Path, result: AttributionResult, selected: Sequence[int], k: int):
    write_json_atomic(
        folder / "attribution.json", {**result.to_dict(k), "selected_features": list(selected)}
    )
    plot_attribution(folder / "attribution.png", result.ranking.to_dict())


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    steer: bool,
    progress: bool = True,
    overwrite: bool = False,
) -> ExperimentResult:
    """`attribute` (steer=False) or `steer` (steer=True): stages 1-2, or 1-6, of `onsets`."""
    out_dir = check_output_folder(Path(out_dir), "metrics.json", overwrite)
    start = time.perf_counter()
    features = list(config.steering.features)
    source = "config" if features else "attribution"
    from_run = steer and not features and config.features_from is not None
    if from_run:
        features, from_manifest = read_attribute_run(
            str(config.features_from), config.steering.n_features
        )
        source = f"attribute run {config.features_from}"
    loaded, loaded_sae, detector, cross_detector, prompts = prepare(config, progress)
    if from_run:
        check_same_sae(str(config.features_from), from_manifest, loaded_sae)
    context = context_for(
        loaded,
        loaded_sae,
        detector,
        prompts,
        config.max_new_tokens,
        config.batch_size,
        config.steering,
        progress,
        cross_detector,
    )
    command = "steer" if steer else "attribute"
    with atomic_directory(out_dir) as folder:
        resolved = config_to_dict(config)
        write_text_atomic(folder / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
        tracker = start_tracking(
            config.wandb_mode, config.wandb_project, f"{command}-{out_dir.name}", resolved, folder
        )
        context.run_baseline()
        k = config.steering.n_features
        attribution = attribution_stage(
            context, config.attribution, k, config.seed, config.steering
        )
        selected = features or attribution.selected(config.attribution, k)
        write_attribution(folder, attribution, selected, k)
        metrics: dict = {
            "attribution": attribution.to_dict(k)["comparison"],
            "features_source": source,
            "cross_check_scorer": config.cross_check_scorer,
        }
        if steer:
            contrast = list(attribution.contrast.feature_ids[: len(selected)])
            curve = suppression_curve_features(
                attribution, config.attribution, config.steering.suppression_sizes, selected
            )
            metrics.update(
                steering_stage(
                    context,
                    selected,
                    contrast,
                    attribution.maxima,
                    config.steering,
                    config.seed,
                    curve,
                )
            )
            write_plots(folder, metrics)
        metrics["runtime_seconds"] = time.perf_counter() - start
        write_json_atomic(folder / "metrics.json", metrics)
        write_json_atomic(folder / "manifest.json", manifest(context, resolved, command))
        records = [
            {"condition": "baseline", "seed": seed, **r.to_record()}
            for seed, responses in context.baseline.items()
            for r in responses
        ] + context.records
        write_text_atomic(
            folder / "responses.jsonl", "".join(json.dumps(r) + "\n" for r in records)
        )
        logged = flatten({key: metrics[key] for key in LOGGED_KEYS if key in metrics})
        tracker.log(logged, step=0)
        tracker.summarize(logged)
        tracker.finish()
    logger.info("%s run written to %s", command, out_dir)
    return ExperimentResult(out_dir, metrics)


def flatten(values: dict, prefix: str = "") -> dict:
    """Nested numbers as flat "a/b/c" keys, for W&B summaries."""
    flat: dict = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}/"))
        elif isinstance(value, (int, float, bool)):
            flat[name] = value
    return flat
