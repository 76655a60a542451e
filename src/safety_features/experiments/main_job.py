"""The main job: one pass through every stage of the toolkit on one model.

1. load the SAE at the configured hook, or train one with SAELens;
2. generate responses to held-out prompts of every group, batched, and detect the phases of
   each response and its safety-phase onset (see `phases`);
3. write a short occurrence report on the baseline: rates by group with tests, onset
   positions, clusters of safety sentences, prefilling, chat-base KL, a probe on the last
   prompt token (see `experiments.occurrence`);
4. attribute the onsets of harmful responses to SAE features, beside the activation-difference
   and random baselines (see `attribution`);
5. clamp the top features to zero on harmful prompts (also for the suppression curve's other
   numbers of features) and high on benign prompts over a range of strengths, with random
   feature sets and the refusal direction as controls, and measure the side effects (see
   `experiments.onsets`);
6. index the SAE's features on the baseline responses, and write a dashboard of the clamped
   features (see `lookup`);
7. write metrics.json, plots and a report into the run folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from safety_features.config import config_to_dict
from safety_features.experiments.config import RunConfig
from safety_features.experiments.occurrence.config import OccurrenceConfig
from safety_features.experiments.occurrence.divergence import check_same_tokenizer
from safety_features.experiments.occurrence.report import write_occurrence_report
from safety_features.experiments.occurrence.run import occurrence_stages
from safety_features.experiments.occurrence.suite import Samples
from safety_features.experiments.onsets import (
    attribution_stage,
    check_suppression_sizes,
    steering_stage,
    suppression_curve_features,
)
from safety_features.experiments.plots import write_plots
from safety_features.experiments.runs import (
    context_for,
    cross_check_detector,
    manifest,
    write_attribution,
)
from safety_features.files import (
    OutputFolderError,
    atomic_directory,
    check_output_folder,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.lookup.build import index_from_responses
from safety_features.lookup.config import IndexConfig
from safety_features.lookup.query import feature_card
from safety_features.lookup.render import write_dashboard
from safety_features.lookup.store import open_index
from safety_features.models.loading import LoadedModel, load_model
from safety_features.organism.corpus import GROUPS, sample_prompts
from safety_features.paths import repository_path
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.render import write_html
from safety_features.phases.responses import DetectedResponse, safety_rate
from safety_features.report import write_report
from safety_features.saes.loading import LoadedSAE, check_sae_fits, load_sae
from safety_features.saes.training import train_sae
from safety_features.steering.interventions import check_feature_ids

logger = logging.getLogger(__name__)


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
    return repository_path(sae_path)


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
        logger.warning(
            "No SAE at %s, so the job trains one into the run folder (about 15 minutes on 2 CPU "
            "cores with the shipped SAE's settings). Fix sae_path, or set train_sae_if_missing: "
            "false to stop instead.",
            path,
        )
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


def short_occurrence(
    config: RunConfig,
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    detector: PhaseDetector,
    baseline: Sequence[DetectedResponse],
    base: LoadedModel | None,
    folder: Path,
    progress: bool,
) -> dict:
    """Write the occurrence report on the greedy baseline alone into `folder/occurrence/`."""
    settings = OccurrenceConfig(
        model=config.model,
        base_model=config.base_model,
        seed=config.seed,
        n_samples=0,
        hook_name=loaded_sae.hook_name,
        prefill_lengths=config.prefill_lengths,
        n_bootstrap=500,
    )
    samples = Samples([r.prompt for r in baseline], list(baseline), [])
    report_folder = folder / "occurrence"
    report_folder.mkdir()
    metrics = occurrence_stages(loaded, detector, samples, settings, report_folder, base, progress)
    write_json_atomic(report_folder / "occurrence.json", metrics)
    write_occurrence_report(report_folder, metrics)
    return metrics


def lookup_stage(
    config: RunConfig,
    loaded: LoadedModel,
    loaded_sae: LoadedSAE,
    detector: PhaseDetector,
    baseline: Sequence[DetectedResponse],
    features: Sequence[int],
    folder: Path,
    final_dir: Path,
    recorded_sae_path: str,
    progress: bool,
) -> list[dict]:
    """Index the SAE's features on the baseline responses into `folder/index/`, write a
    dashboard of `features` into `folder/dashboard/`, and summarise each of them.

    `folder` becomes `final_dir` when the run ends, so the records name `final_dir`.
    """
    settings = IndexConfig(
        sae_path=recorded_sae_path,
        model=config.model,
        seed=config.seed,
        concepts=config.concepts,
        phase_scorer=config.phase_scorer,
        n_top_contexts=5,
        n_quantile_samples=3,
        sample_pool=32,
    )
    index_from_responses(
        settings,
        loaded,
        loaded_sae,
        baseline,
        list(detector.concepts.names),
        folder / "index",
        source=f"the run's greedy responses to held-out prompts, seed {config.seed}",
        sae_path=loaded_sae.path,
        recorded_sae_path=recorded_sae_path,
        progress=progress,
    )
    index = open_index(folder / "index")
    # The run folder is renamed to its final path afterwards, so ranks and paths name that one.
    order = json.loads((folder / "attribution.json").read_text(encoding="utf-8"))["order"]
    ranks = {
        feature: [
            {
                "run": str(final_dir),
                "rank": order.index(feature) + 1 if feature in order else None,
                "of": len(order),
            }
        ]
        for feature in features
    }
    write_dashboard(
        index,
        folder / "dashboard",
        features,
        roots=[],
        progress=False,
        ranks=ranks,
        recorded_index=str(final_dir / "index"),
    )
    summaries = []
    for feature in features:
        card = feature_card(index, feature)
        top = card["top_contexts"][0] if card["top_contexts"] else None
        summaries.append(
            {
                "feature": feature,
                "density": card["density"],
                "max": card["max"],
                "enrichment_auroc": card["enrichment_auroc"],
                "decoder_top_tokens": [t["token"] for t in card["decoder_top_tokens"][:5]],
                "top_context": None
                if top is None
                else {"tokens": top["tokens"], "centre": top["centre"], "value": top["value"]},
            }
        )
    return summaries


def run_main_job(
    config: RunConfig, out_dir: str | Path, progress: bool = True, overwrite: bool = False
) -> RunResult:
    """Run stages 1 to 7 and write every output into `out_dir`.

    The outputs go into a temporary folder beside `out_dir` that replaces it only when every
    stage has finished, so a failed run leaves an earlier run folder as it was.
    """
    out_dir = prepare_run_folder(Path(out_dir), overwrite)
    with atomic_directory(out_dir) as folder:
        metrics = run_stages(config, folder, out_dir, progress)
    logger.info("Run written to %s in %.0f s", out_dir, metrics["runtime_seconds"])
    return RunResult(out_dir, metrics)


def run_stages(config: RunConfig, folder: Path, out_dir: Path, progress: bool) -> dict:
    """Run stages 1 to 7, writing into `folder`, which becomes `out_dir` afterwards."""
    start = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    write_text_atomic(
        folder / "config.yaml", yaml.safe_dump(config_to_dict(config), sort_keys=False)
    )
    loaded = load_model(config.model)
    concepts = resolve_sae_path(config.concepts) if config.concepts else None
    detector = PhaseDetector(loaded.tokenizer, concepts, config.phase_scorer)
    cross_detector = cross_check_detector(loaded, concepts, config.cross_check_scorer)
    prompts = sample_prompts(config.seed, "heldout", config.n_prompts_per_group)
    base = load_model(config.base_model) if config.base_model else None
    if base is not None:
        check_same_tokenizer(loaded, base)

    # 1. SAE.
    loaded_sae, sae_origin = obtain_sae(config, loaded, folder, progress)
    check_feature_ids(config.steering.features, loaded_sae.sae.cfg.d_sae)
    check_suppression_sizes(config.steering.suppression_sizes, loaded_sae.sae.cfg.d_sae)
    stage_seconds["sae"] = time.perf_counter() - start

    # 2. Generate on held-out prompts and mark the onsets.
    mark = time.perf_counter()
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
    context.run_baseline()
    baseline = context.baseline[context.seeds[0]]
    write_jsonl(folder / "responses.jsonl", [r.to_record() for r in baseline])
    phase_results = [r.phases for r in baseline if r.phases is not None]
    write_html(
        folder / "phases.html",
        phase_results,
        "Phases of the baseline responses",
        [f"{r.prompt.group} / {r.prompt.category}" for r in baseline if r.phases is not None],
    )
    stage_seconds["generate_and_detect"] = time.perf_counter() - mark

    # 3. When the safety phase occurs: a short occurrence report on the baseline.
    mark = time.perf_counter()
    occurrence = short_occurrence(
        config, loaded, loaded_sae, detector, baseline, base, folder, progress
    )
    stage_seconds["occurrence"] = time.perf_counter() - mark

    # 4. Onset attribution.
    mark = time.perf_counter()
    k = config.steering.n_features
    attribution = attribution_stage(context, config.attribution, k, config.seed, config.steering)
    features = list(config.steering.features) or attribution.selected(config.attribution, k)
    write_attribution(folder, attribution, features, k)
    stage_seconds["attribute"] = time.perf_counter() - mark

    # 5. Clamping experiments and controls.
    mark = time.perf_counter()
    contrast = list(attribution.contrast.feature_ids[: len(features)])
    curve = suppression_curve_features(
        attribution, config.attribution, config.steering.suppression_sizes, features
    )
    experiments = steering_stage(
        context, features, contrast, attribution.maxima, config.steering, config.seed, curve
    )
    write_jsonl(folder / "interventions.jsonl", context.records)
    write_plots(folder, experiments)
    stage_seconds["steer"] = time.perf_counter() - mark

    # 6. Feature lookup: an index of the baseline, and a dashboard of the clamped features.
    mark = time.perf_counter()
    # Absolute, so the run's index and metrics name the SAE from any working folder.
    recorded_sae = str(
        out_dir / "sae" if sae_origin == "trained" else Path(loaded_sae.path).resolve()
    )
    clamped_cards = lookup_stage(
        config,
        loaded,
        loaded_sae,
        detector,
        baseline,
        features,
        folder,
        out_dir,
        recorded_sae,
        progress,
    )
    stage_seconds["lookup"] = time.perf_counter() - mark

    # 7. Metrics and report.
    metrics = {
        "model": loaded.name,
        "model_source": loaded.source,
        "model_weights_sha256": loaded.weights_sha256,
        "sae": recorded_sae,
        "sae_origin": sae_origin,
        "hook_name": loaded_sae.hook_name,
        "sae_quality": sae_quality(loaded_sae),
        "phase_detector": {
            **detector.scorer_record(),
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
        "cross_check_scorer": config.cross_check_scorer,
        "n_prompts": {g: sum(p.group == g for p in prompts) for g in GROUPS},
        "baseline_safety_phase_rate_by_group": {
            g: safety_rate(r for r in baseline if r.prompt.group == g) for g in GROUPS
        },
        "occurrence": occurrence,
        "attribution": attribution.comparison,
        "top_features": [vars(f) for f in attribution.ranking.top[:k]],
        "top_features_method": attribution.ranking.method,
        "clamped_features": features,
        "clamped_selection": (
            "steering.features" if config.steering.features else config.attribution.select_by
        ),
        "clamped_feature_cards": clamped_cards,
        **experiments,
        "stage_seconds": stage_seconds,
    }
    metrics["runtime_seconds"] = time.perf_counter() - start
    write_json_atomic(folder / "metrics.json", metrics)
    write_json_atomic(folder / "manifest.json", manifest(context, config_to_dict(config), "run"))
    write_report(folder, metrics, baseline)
    return metrics
