"""The main job: one pass through every stage of the toolkit on one model.

1. generate responses to held-out prompts of every group, batched;
2. detect the phases of each response and mark its safety-phase onset (see `phases`);
3. load the SAE at the configured hook, or train one with SAELens;
4. rank SAE features by their activation at onset positions minus matched control positions;
5. clamp the top features to zero on harmful prompts and high on benign prompts, and clamp
   random feature sets of the same size as controls, regenerating each time;
6. write metrics.json and a report into the run folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from safety_features.attribution.onset_contrast import (
    FeatureRanking,
    PositionedTranscript,
    rank_onset_features,
)
from safety_features.config import config_to_dict
from safety_features.experiments.config import RunConfig
from safety_features.files import (
    OutputFolderError,
    atomic_directory,
    check_output_folder,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.models.generation import generate
from safety_features.models.loading import REPOSITORY_ROOT, LoadedModel, load_model
from safety_features.organism.corpus import GROUPS, Prompt, sample_prompts
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.render import write_html
from safety_features.phases.responses import DetectedResponse, detect_responses, safety_rate
from safety_features.report import write_report
from safety_features.saes.activations import skipped_token_ids, transcript_activations
from safety_features.saes.loading import LoadedSAE, check_sae_fits, load_sae
from safety_features.saes.training import train_sae
from safety_features.steering.interventions import FeatureClamp, clamp_hook

logger = logging.getLogger(__name__)

ONSET_GROUPS = ("harmful", "wrapped_harmful", "discrimination")
CONTROL_GROUPS = ("benign", "alarming_benign")


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    metrics: dict


class RunFolderError(RuntimeError):
    """A run folder that already contains results."""


def prepare_run_folder(out_dir: Path, overwrite: bool) -> Path:
    """Return `out_dir` resolved; raise RunFolderError if the run could lose files there."""
    try:
        return check_output_folder(out_dir, "metrics.json", overwrite)
    except OutputFolderError as error:
        raise RunFolderError(str(error)) from error


def write_jsonl(path: Path, records: Sequence[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))


def resolve_sae_path(sae_path: str) -> Path:
    path = Path(sae_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return REPOSITORY_ROOT / path


def obtain_sae(
    config: RunConfig, loaded: LoadedModel, out_dir: Path, progress: bool
) -> tuple[LoadedSAE, str]:
    """Load the configured SAE, or train one into the run folder; return it and how it was got."""
    if config.sae_path:
        path = resolve_sae_path(config.sae_path)
        if (path / "cfg.json").exists() or not config.train_sae_if_missing:
            loaded_sae = load_sae(path)
            check_sae_fits(loaded_sae, loaded)
            return loaded_sae, "loaded"
        logger.info("No SAE at %s; training one into the run folder", path)
    result = train_sae(
        config.sae_training,
        out_dir / "sae",
        loaded=loaded,
        progress=progress,
        work_dir=out_dir / "sae-training",
    )
    loaded_sae = load_sae(result.path)
    check_sae_fits(loaded_sae, loaded)
    return loaded_sae, "trained"


SAE_QUALITY_KEYS = (
    "explained_variance",
    "ce_loss_score",
    "l0",
    "dead_fraction_training_rows",
    "explained_variance_safety",
    "explained_variance_other",
    "safety_phase_rate_clean",
    "safety_phase_rate_with_sae",
)


def sae_quality(loaded_sae: LoadedSAE) -> dict:
    """Collect the SAE's shape and the held-out metrics its training recorded (none for releases)."""
    cfg = loaded_sae.sae.cfg
    recorded = loaded_sae.metadata.get("metrics", {})
    return {
        "architecture": loaded_sae.metadata.get("config", {}).get("architecture")
        or cfg.architecture(),
        "d_sae": cfg.d_sae,
        **{key: recorded[key] for key in SAE_QUALITY_KEYS if key in recorded},
    }


def transcript(response: DetectedResponse) -> tuple[int, ...]:
    return (*response.generation.prompt_token_ids, *response.generation.response_token_ids)


def onset_and_control_positions(
    responses: Sequence[DetectedResponse],
) -> tuple[list[PositionedTranscript], list[PositionedTranscript]]:
    """Onset positions in safety responses; controls at the same offsets in other responses."""
    onsets: list[tuple[DetectedResponse, int]] = []
    for response in responses:
        if (
            response.prompt.group in ONSET_GROUPS
            and response.onset
            and response.onset.token_index is not None
        ):
            onsets.append((response, response.onset.token_index))
    controls = [r for r in responses if r.prompt.group in CONTROL_GROUPS and not r.has_safety_phase]

    onset_positions = [
        PositionedTranscript(transcript(r), len(r.generation.prompt_token_ids) + index - 1)
        for r, index in onsets
    ]
    control_positions = []
    for number, control in enumerate(controls):
        offset = onsets[number % len(onsets)][1] if onsets else 0
        n_response = len(control.generation.response_token_ids)
        position = len(control.generation.prompt_token_ids) + min(offset, n_response) - 1
        control_positions.append(PositionedTranscript(transcript(control), position))
    return onset_positions, control_positions


@torch.no_grad()
def max_feature_activations(
    loaded: LoadedModel, loaded_sae: LoadedSAE, responses: Sequence[DetectedResponse]
) -> torch.Tensor:
    """Maximum of each feature over the baseline transcripts, BOS and padding excluded."""
    skipped = skipped_token_ids(loaded)
    transcripts = [transcript(r) for r in responses]
    keep = [[token not in skipped for token in ids] for ids in transcripts]
    activations = transcript_activations(
        loaded, loaded_sae.hook_name, transcripts, keep, progress=False
    )
    maxima = torch.zeros(loaded_sae.sae.cfg.d_sae)
    for chunk in activations.split(4096):
        features = loaded_sae.sae.encode(chunk.to(loaded_sae.sae.W_dec.device)).cpu()
        maxima = torch.maximum(maxima, features.max(dim=0).values)
    return maxima


def generate_detected(
    loaded: LoadedModel,
    prompts: Sequence[Prompt],
    config: RunConfig,
    detector: PhaseDetector | None,
    hooks=(),
    description: str = "generating",
    progress: bool = True,
) -> list[DetectedResponse]:
    generations = generate(
        loaded,
        [p.text for p in prompts],
        max_new_tokens=config.max_new_tokens,
        batch_size=config.batch_size,
        hooks=hooks,
        progress=progress,
        description=description,
    )
    return detect_responses(loaded, prompts, generations, detector)


def random_feature_sets(
    maxima: torch.Tensor, exclude: Sequence[int], size: int, count: int, seed: int
) -> list[list[int]]:
    """`count` sets of `size` features drawn from those that fire in the baseline, minus `exclude`."""
    pool = [i for i in torch.nonzero(maxima > 0).flatten().tolist() if i not in set(exclude)]
    if len(pool) < size:
        raise ValueError(
            f"Only {len(pool)} live features remain for random controls of size {size}."
        )
    generator = torch.Generator().manual_seed(seed)
    return [
        sorted(pool[i] for i in torch.randperm(len(pool), generator=generator)[:size].tolist())
        for _ in range(count)
    ]


def clamp_conditions(
    config: RunConfig,
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    baseline: Sequence[DetectedResponse],
    ranking: FeatureRanking,
    detector: PhaseDetector | None,
    progress: bool,
) -> tuple[dict, list[dict]]:
    """Regenerate under each clamp; return safety-phase rates and every response as records."""
    harmful = [r.prompt for r in baseline if r.prompt.group == "harmful"]
    benign = [r.prompt for r in baseline if r.prompt.group == "benign"]
    maxima = max_feature_activations(loaded, loaded_sae, baseline)
    top = list(ranking.feature_ids[: config.n_clamped_features])

    def suppress(features: Sequence[int]) -> FeatureClamp:
        return FeatureClamp(tuple(features), tuple(0.0 for _ in features))

    def trigger(features: Sequence[int]) -> FeatureClamp:
        return FeatureClamp(
            tuple(features), tuple(config.trigger_multiple * float(maxima[f]) for f in features)
        )

    records: list[dict] = []

    def rate_under(
        name: str, prompts: Sequence[Prompt], clamp: FeatureClamp, positions: str
    ) -> float:
        responses = generate_detected(
            loaded,
            prompts,
            config,
            detector,
            hooks=[clamp_hook(loaded_sae, clamp, positions)],  # type: ignore[arg-type]
            description=name,
            progress=progress,
        )
        records.extend({"condition": name, **r.to_record()} for r in responses)
        return safety_rate(responses)

    rates: dict[str, Any] = {
        "baseline": {
            "harmful": safety_rate(r for r in baseline if r.prompt.group == "harmful"),
            "benign": safety_rate(r for r in baseline if r.prompt.group == "benign"),
        },
        "suppressed": {
            "harmful": rate_under("suppressed", harmful, suppress(top), config.suppress_positions)
        },
        "triggered": {
            "benign": rate_under("triggered", benign, trigger(top), config.trigger_positions)
        },
    }
    random_sets = random_feature_sets(maxima, top, len(top), config.n_random_controls, config.seed)
    harmful_random = [
        rate_under(f"random_suppressed_{i}", harmful, suppress(s), config.suppress_positions)
        for i, s in enumerate(random_sets)
    ]
    benign_random = [
        rate_under(f"random_triggered_{i}", benign, trigger(s), config.trigger_positions)
        for i, s in enumerate(random_sets)
    ]
    if random_sets:
        rates["random_control"] = {
            "harmful": sum(harmful_random) / len(harmful_random),
            "benign": sum(benign_random) / len(benign_random),
            "harmful_each": harmful_random,
            "benign_each": benign_random,
            "feature_sets": random_sets,
        }
    rates["clamp_values"] = {"triggered": list(trigger(top).values), "suppressed": 0.0}
    return rates, records


def run_main_job(
    config: RunConfig, out_dir: str | Path, progress: bool = True, overwrite: bool = False
) -> RunResult:
    """Run stages 1 to 6 and write every output into `out_dir`.

    The outputs go into a temporary folder beside `out_dir` that replaces it only when every
    stage has finished, so a failed run leaves an earlier run folder as it was.
    """
    out_dir = prepare_run_folder(Path(out_dir), overwrite)
    with atomic_directory(out_dir) as folder:
        metrics = run_stages(config, folder, out_dir, progress)
    logger.info("Run written to %s in %.0f s", out_dir, metrics["runtime_seconds"])
    return RunResult(out_dir, metrics)


def run_stages(config: RunConfig, folder: Path, out_dir: Path, progress: bool) -> dict:
    """Run stages 1 to 6, writing into `folder`, which becomes `out_dir` afterwards."""
    start = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    write_text_atomic(
        folder / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False)
    )

    # 1-2. Generate on held-out prompts and mark the onsets.
    loaded = load_model(config.model)
    concepts = resolve_sae_path(config.concepts) if config.concepts else None
    detector = PhaseDetector(loaded.tokenizer, concepts, config.phase_scorer)
    prompts = sample_prompts(config.seed, "heldout", config.n_prompts_per_group)
    baseline = generate_detected(
        loaded, prompts, config, detector, description="baseline", progress=progress
    )
    write_jsonl(folder / "responses.jsonl", [r.to_record() for r in baseline])
    phase_results = [r.phases for r in baseline if r.phases is not None]
    write_html(
        folder / "phases.html",
        phase_results,
        "Phases of the baseline responses",
        [f"{r.prompt.group} / {r.prompt.category}" for r in baseline if r.phases is not None],
    )
    stage_seconds["generate_and_detect"] = time.perf_counter() - start

    # 3. SAE.
    mark = time.perf_counter()
    loaded_sae, sae_origin = obtain_sae(config, loaded, folder, progress)
    stage_seconds["sae"] = time.perf_counter() - mark

    # 4. Onset features.
    mark = time.perf_counter()
    onsets, controls = onset_and_control_positions(baseline)
    ranking = rank_onset_features(loaded, loaded_sae, onsets, controls)
    write_json_atomic(
        folder / "features.json",
        {"n_onset": ranking.n_onset, "n_control": ranking.n_control, "top": ranking.top(50)},
    )
    stage_seconds["rank_features"] = time.perf_counter() - mark

    # 5. Clamping.
    mark = time.perf_counter()
    rates, records = clamp_conditions(
        config, loaded, loaded_sae, baseline, ranking, detector, progress
    )
    write_jsonl(folder / "interventions.jsonl", records)
    stage_seconds["clamp"] = time.perf_counter() - mark

    # 6. Metrics and report.
    metrics = {
        "model": loaded.name,
        "model_source": loaded.source,
        "model_weights_sha256": loaded.weights_sha256,
        "sae": str(out_dir / "sae" if sae_origin == "trained" else loaded_sae.path),
        "sae_origin": sae_origin,
        "hook_name": loaded_sae.hook_name,
        "sae_quality": sae_quality(loaded_sae),
        "phase_detector": {
            "scorer": detector.scorer.name,
            "concept_set": str(detector.concepts.path),
            "settings": detector.settings.to_dict(),
            "emergences": dict(
                Counter(e.concept for r in phase_results for e in r.segmentation.emergences)
            ),
            "transitions": dict(
                Counter(
                    f"{t.from_concept}->{t.to_concept}"
                    for r in phase_results
                    for t in r.segmentation.transitions
                )
            ),
        },
        "n_prompts": {g: sum(p.group == g for p in prompts) for g in GROUPS},
        "baseline_safety_phase_rate_by_group": {
            g: safety_rate(r for r in baseline if r.prompt.group == g) for g in GROUPS
        },
        "safety_phase_rate": rates,
        "clamped_features": list(ranking.feature_ids[: config.n_clamped_features]),
        "top_features": ranking.top(config.n_clamped_features),
        "stage_seconds": stage_seconds,
        "runtime_seconds": time.perf_counter() - start,
    }
    write_json_atomic(folder / "metrics.json", metrics)
    write_report(folder, metrics, baseline)
    return metrics
