"""The occurrence report: every analysis on one prompt suite, written into one folder.

1. generate a greedy and `n_samples` sampled responses per prompt, and detect their phases;
2. safety-phase rates per category with intervals, and tests of category effects;
3. onset positions, and the phases that precede each safety onset;
4. clusters of the safety sentences, by the residual stream at the onset and by embeddings;
5. prefilling: force k tokens of a compliant answer and measure the return to safety;
6. KL(chat ‖ base) by response position;
7. a linear probe on the last prompt token that predicts the safety phase.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from safety_features.attribution.refusal_direction import prompt_activations
from safety_features.config import config_to_dict
from safety_features.experiments.occurrence import plots
from safety_features.experiments.occurrence.clusters import cluster_safety_sentences
from safety_features.experiments.occurrence.config import OccurrenceConfig
from safety_features.experiments.occurrence.divergence import (
    check_same_tokenizer,
    divergence_by_position,
    divergence_curve,
)
from safety_features.experiments.occurrence.prefill import compliant_answers, prefill_test
from safety_features.experiments.occurrence.probe import probe_report
from safety_features.experiments.occurrence.rates import (
    category_rates,
    category_tests,
    onset_distribution,
    preceding_phases,
)
from safety_features.experiments.occurrence.report import write_occurrence_report
from safety_features.experiments.occurrence.suite import (
    Samples,
    SuiteError,
    category_of,
    generate_samples,
    load_suite,
)
from safety_features.experiments.runs import flatten, repository_path
from safety_features.files import (
    atomic_directory,
    check_output_folder,
    write_json_atomic,
    write_text_atomic,
)
from safety_features.models.generation import check_prompt_lengths, encode_prompts
from safety_features.models.loading import LoadedModel, load_model
from safety_features.phases.detect import PhaseDetector
from safety_features.phases.scorers import EmbeddingScorer
from safety_features.saes.activations import check_hook_name
from safety_features.saes.tracking import start_tracking

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OccurrenceResult:
    out_dir: Path
    metrics: dict


def default_hook(loaded: LoadedModel) -> str:
    return f"blocks.{loaded.model.cfg.n_layers // 2}.hook_resid_pre"


def probe_hooks(loaded: LoadedModel) -> list[str]:
    n_layers = loaded.model.cfg.n_layers
    return [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)] + [
        f"blocks.{n_layers - 1}.hook_resid_post"
    ]


def in_group(samples: Samples, config: OccurrenceConfig, name: str) -> list[int]:
    return [
        i
        for i, p in enumerate(samples.prompts)
        if name in (p.group, category_of(p, config.category_field))
    ]


def occurrence_stages(
    loaded: LoadedModel,
    detector: PhaseDetector,
    samples: Samples,
    config: OccurrenceConfig,
    folder: Path,
    base: LoadedModel | None,
    progress: bool,
) -> dict:
    """Stages 2 to 7 of the module docstring on `samples`; write plots into `folder`."""
    field = config.category_field
    hook = config.hook_name or default_hook(loaded)
    check_hook_name(loaded, hook)
    every_response = [r for run in samples.runs() for r in run]
    rates = category_rates(samples, field, config.n_bootstrap)
    onsets = onset_distribution(samples, field)
    metrics: dict = {
        "n_prompts": len(samples.prompts),
        "n_responses": len(every_response),
        "category_field": field,
        "rates": rates,
        "tests": category_tests(samples, field),
        "onsets": {k: v for k, v in onsets.items() if k != "values"},
        "preceding_phases": preceding_phases(every_response),
    }
    plots.plot_rates(folder / "rates.png", rates)
    plots.plot_onsets(folder / "onsets.png", onsets["values"])
    metrics["clusters"] = clusters_stage(loaded, detector, every_response, config, hook, folder)
    if base is not None and in_group(samples, config, config.prefill_group):
        metrics.update(base_model_stages(loaded, base, detector, samples, config, folder, progress))
    metrics["probe"] = probe_stage(loaded, samples, config, hook)
    return metrics


def clusters_stage(loaded, detector, responses, config: OccurrenceConfig, hook: str, folder: Path):
    """Cluster the safety sentences by both representations and plot each clustering."""
    scorer = detector.scorer
    embedder = scorer if isinstance(scorer, EmbeddingScorer) else EmbeddingScorer()
    field = config.category_field
    clusterings = cluster_safety_sentences(
        loaded,
        hook,
        responses,
        field,
        embedder,
        config.max_clusters,
        config.n_examples_per_cluster,
        config.seed,
    )
    result: dict = {"hook_name": hook}
    with_onset = [r for r in responses if r.onset is not None and r.onset.token_index is not None]
    categories = [category_of(r.prompt, field) for r in with_onset]
    for name, clustering in clusterings.items():
        result[name] = None if clustering is None else clustering.to_dict()
        if clustering is not None:
            plots.plot_clusters(
                folder / f"clusters_{name}.png",
                clustering.projection,
                clustering.labels,
                categories,
                f"Safety sentences by {name} (k = {clustering.k})",
            )
    return result


def base_model_stages(
    loaded: LoadedModel,
    base: LoadedModel,
    detector: PhaseDetector,
    samples: Samples,
    config: OccurrenceConfig,
    folder: Path,
    progress: bool,
) -> dict:
    """Run the prefilling test and the chat-base KL divergence, which both need the base model."""
    check_same_tokenizer(loaded, base)
    group_prompts = [samples.prompts[i] for i in in_group(samples, config, config.prefill_group)]
    answers = compliant_answers(
        base,
        detector,
        group_prompts,
        max(config.prefill_lengths, default=1) or 1,
        config.batch_size,
        progress,
    )
    prefill = prefill_test(
        loaded,
        detector,
        group_prompts,
        answers,
        config.prefill_lengths,
        config.prefill_new_tokens,
        config.batch_size,
        config.n_bootstrap,
    )
    plots.plot_prefill(folder / "prefill.png", prefill)
    curves = {}
    for name in dict.fromkeys([config.prefill_group, "benign"]):
        rows = in_group(samples, config, name)
        if rows:
            values = divergence_by_position(loaded, base, [samples.greedy[i] for i in rows])
            curves[name] = divergence_curve(values, config.n_bootstrap)
    plots.plot_divergence(folder / "divergence.png", curves)
    return {
        "prefill": {"group": config.prefill_group, "by_length": prefill},
        "divergence": {"base_model": base.name, "curves": curves},
    }


def probe_stage(loaded: LoadedModel, samples: Samples, config: OccurrenceConfig, hook: str) -> dict:
    """Probe the last prompt token at `hook` and at every residual hook for the greedy outcome."""
    labels = np.array([float(r.has_safety_phase) for r in samples.greedy])
    texts = [p.text for p in samples.prompts]
    prompt_categories = [category_of(p, config.category_field) for p in samples.prompts]
    result: dict = {"headline_hook": hook, "by_hook": {}}
    for name in dict.fromkeys([hook, *probe_hooks(loaded)]):
        features = prompt_activations(loaded, name, texts, position=-1).numpy()
        result["by_hook"][name] = probe_report(
            features,
            labels,
            prompt_categories,
            config.probe_folds,
            config.n_random_directions,
            config.seed,
        )
    return result


def run_occurrence(
    config: OccurrenceConfig, out_dir: str | Path, progress: bool = True, overwrite: bool = False
) -> OccurrenceResult:
    """Generate on the prompt suite and write the occurrence report folder (see module docstring)."""
    out_dir = check_output_folder(Path(out_dir), "occurrence.json", overwrite)
    start = time.perf_counter()
    prompts = load_suite(config.prompts_file, config.seed, config.n_prompts_per_group)
    loaded = load_model(config.model)
    check_prompt_lengths(
        loaded, encode_prompts(loaded, [p.text for p in prompts]), config.max_new_tokens
    )
    if config.hook_name:
        check_hook_name(loaded, config.hook_name)
    base = load_model(config.base_model) if config.base_model else None
    if base is not None:
        check_same_tokenizer(loaded, base)
    concepts = repository_path(config.concepts) if config.concepts else None
    detector = PhaseDetector(loaded.tokenizer, concepts, config.phase_scorer)
    with atomic_directory(out_dir) as folder:
        resolved = config_to_dict(config)
        write_text_atomic(folder / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
        tracker = start_tracking(
            config.wandb_mode, config.wandb_project, f"occurrence-{out_dir.name}", resolved, folder
        )
        samples = generate_samples(
            loaded,
            detector,
            prompts,
            config.max_new_tokens,
            config.batch_size,
            config.n_samples,
            config.temperature,
            progress,
        )
        write_text_atomic(
            folder / "responses.jsonl", "".join(json.dumps(r) + "\n" for r in samples.records())
        )
        metrics = occurrence_stages(loaded, detector, samples, config, folder, base, progress)
        metrics["model"] = {"name": loaded.name, "weights_sha256": loaded.weights_sha256}
        metrics["runtime_seconds"] = time.perf_counter() - start
        write_json_atomic(folder / "occurrence.json", metrics)
        write_occurrence_report(folder, metrics)
        logged = flatten({k: metrics[k] for k in ("rates", "tests", "probe") if k in metrics})
        tracker.log(logged, step=0)
        tracker.summarize(logged)
        tracker.finish()
    logger.info("Occurrence report written to %s", out_dir)
    return OccurrenceResult(out_dir, metrics)


__all__ = ["OccurrenceResult", "SuiteError", "occurrence_stages", "run_occurrence"]
