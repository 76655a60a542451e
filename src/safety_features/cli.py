"""Command-line interface: `safety-features COMMAND --help` describes each command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import version as package_version
from pathlib import Path

from safety_features.cli_common import config_path, int_at_least, positive_int, print_json
from safety_features.config import ConfigError, load_config
from safety_features.lookup.cli import add_lookup_commands

DEFAULT_RUN_CONFIG = "configs/run.yaml"
DEFAULT_ORGANISM_CONFIG = "configs/organism.yaml"
DEFAULT_PHASE_DATA = "tests/data/phases/eval.jsonl"
DEFAULT_ATTRIBUTE_CONFIG = "configs/experiments/attribute.yaml"
DEFAULT_STEER_CONFIG = "configs/experiments/steer.yaml"
DEFAULT_OCCURRENCE_CONFIG = "configs/experiments/occurrence.yaml"


def command_organism_build(args: argparse.Namespace) -> None:
    from safety_features.organism.config import OrganismConfig
    from safety_features.organism.train import build_organism

    config = load_config(OrganismConfig, config_path(args.config))
    if args.seed is not None:
        config = OrganismConfig(**{**config.__dict__, "seed": args.seed})
    build = build_organism(
        config,
        args.out,
        progress=not args.json,
        overwrite=args.overwrite,
        base=config_path(args.base) if args.base else None,
    )
    if args.json:
        print_json({"base": str(build.base_dir), "chat": str(build.chat_dir), **build.info})
    else:
        print(f"base: {build.base_dir}\nchat: {build.chat_dir}")
        print(f"corpus: {build.info['corpus']}")
        print(f"build time: {build.info['build_seconds']:.0f} s")


def command_organism_eval(args: argparse.Namespace) -> None:
    from safety_features.organism.evaluate import evaluate_organism

    result = evaluate_organism(
        args.chat, args.base, args.n_per_group, args.seed, progress=not args.json
    )
    if args.json:
        print_json(result)
        return
    print(f"{'group':<18}{'chat':>8}{'base':>8}   (safety-phase rate, held-out prompts, greedy)")
    for group in ("harmful", "wrapped_harmful", "discrimination", "benign", "alarming_benign"):
        print(
            f"{group:<18}{result['chat'][group]['safety_phase_rate']:>8.1%}{result['base'][group]['safety_phase_rate']:>8.1%}"
        )
    print(
        f"{'equality (discr.)':<18}{result['chat']['discrimination']['equality_rate']:>8.1%}"
        f"{result['base']['discrimination']['equality_rate']:>8.1%}"
    )
    print(
        "\nShare of wrapped-harmful safety responses whose onset comes after 5 or more tokens: "
        f"chat {result['chat']['wrapped_mid_generation_share']:.1%}, "
        f"base {result['base']['wrapped_mid_generation_share']:.1%} (nan: no safety responses)."
    )
    for category, rate in result["chat"]["harmful"]["by_category"].items():
        print(f"  harmful/{category:<22}{rate:>8.1%}")


def command_run(args: argparse.Namespace) -> None:
    from safety_features.experiments.config import RunConfig
    from safety_features.experiments.main_job import run_main_job
    from safety_features.report import format_table

    config = load_config(RunConfig, config_path(args.config))
    result = run_main_job(config, args.out, progress=not args.json, overwrite=args.overwrite)
    if args.json:
        print_json(result.metrics)
        return
    print(format_table(result.metrics))
    print(
        f"\nRun folder: {result.out_dir} (metrics.json, report.md, report.html, phases.html, "
        "dashboard/index.html)"
    )
    print(f"Runtime: {result.metrics['runtime_seconds']:.0f} s")


def command_experiment(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from safety_features.experiments.config import ExperimentConfig
    from safety_features.experiments.report import format_experiment
    from safety_features.experiments.runs import run_experiment

    config = load_config(ExperimentConfig, config_path(args.config))
    if getattr(args, "features_from", None):
        config = replace(config, features_from=args.features_from)
    steer = args.command == "steer"
    result = run_experiment(
        config, args.out, steer=steer, progress=not args.json, overwrite=args.overwrite
    )
    if args.json:
        print_json(result.metrics)
        return
    print(format_experiment(result.metrics))
    print(f"\nRun folder: {result.out_dir}")


def command_occurrence(args: argparse.Namespace) -> None:
    from safety_features.experiments.occurrence.config import OccurrenceConfig
    from safety_features.experiments.occurrence.run import run_occurrence

    config = load_config(OccurrenceConfig, config_path(args.config))
    result = run_occurrence(config, args.out, progress=not args.json, overwrite=args.overwrite)
    if args.json:
        print_json(result.metrics)
        return
    for category, entry in result.metrics["rates"].items():
        greedy = f"{entry['greedy']['mean']:6.1%}"
        sampled = f"{entry['sampled']['mean']:6.1%}" if "sampled" in entry else "     -"
        print(f"{category:<24} greedy {greedy}   sampled {sampled}")
    print(f"\nReport: {result.out_dir / 'report.html'}")


def command_train_sae(args: argparse.Namespace) -> None:
    from safety_features.saes.config import SAETrainingConfig
    from safety_features.saes.training import train_sae

    config = load_config(SAETrainingConfig, config_path(args.config))
    result = train_sae(
        config,
        args.out,
        progress=not args.json,
        overwrite=args.overwrite,
        resume=args.resume,
        work_dir=args.work_dir,
    )
    summary = {
        "path": str(result.path),
        "work_dir": str(result.work_dir),
        "wandb_run_dir": result.wandb_run_dir,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "n_training_rows": result.n_training_rows,
        "seconds": round(result.seconds, 1),
        **result.metrics,
    }
    if args.json:
        print_json(summary)
        return
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


def command_phases(args: argparse.Namespace) -> None:
    from safety_features.phases.jobs import run_phases

    run = run_phases(
        args.input,
        args.out,
        concepts=args.concepts,
        scorer=args.scorer,
        model=args.model,
        annotations=args.annotations,
        classifier=args.classifier,
        max_new_tokens=args.max_new_tokens,
        n_plots=args.plots,
        overwrite=args.overwrite,
        progress=not args.json,
    )
    if args.json:
        print_json(run.summary)
        return
    summary = run.summary
    print(f"responses: {summary['n_responses']}")
    print(f"safety-phase rate: {summary['safety_phase_rate']:.1%}")
    for name, count in summary["emergences"].items():
        print(f"  {name} emergences: {count}")
    for name, count in summary["transitions"].items():
        print(f"  transitions {name}: {count}")
    print(f"Output folder: {run.out_dir} (phases.jsonl, phases.html, plots/, summary.json)")


def _scorer_list(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _phase_data_arguments(
    args: argparse.Namespace,
) -> tuple[Path, Path | None, tuple[str, ...], str, str]:
    """Return (data, concepts, scorers, model, split) from the labelled-data options."""
    return (
        config_path(args.data),
        config_path(args.concepts) if args.concepts else None,
        _scorer_list(args.scorers),
        args.model,
        args.split,
    )


def command_calibrate_phases(args: argparse.Namespace) -> None:
    from safety_features.phases.jobs import calibrate_phases

    summary = calibrate_phases(*_phase_data_arguments(args))
    if args.json:
        print_json(summary)
        return
    for name, entry in summary.items():
        print(
            f"{name}: onset F1 {entry['onset_f1']:.3f} on {entry['n_responses']} {args.split} responses"
        )
        print(f"  enter {entry['settings']['enter']}")
        print(f"  exit  {entry['settings']['exit']}")
        print(f"  saved to {entry['thresholds_file']}")


def command_evaluate_phases(args: argparse.Namespace) -> None:
    from safety_features.phases.jobs import evaluate_phases

    summary = evaluate_phases(*_phase_data_arguments(args), classifier=args.classifier)
    if args.json:
        print_json(summary)
        return
    print(
        f"{'scorer':<12}{'precision':>10}{'recall':>8}{'F1':>7}{'agree':>8}   ({args.split} split)"
    )
    for name, entry in summary.items():
        micro = entry["onset"]["micro"]
        print(
            f"{name:<12}{micro['precision']:>10.3f}{micro['recall']:>8.3f}{micro['f1']:>7.3f}"
            f"{entry['response_agreement']['concept_set']:>8.3f}"
        )


def command_train_classifier(args: argparse.Namespace) -> None:
    from safety_features.phases.classifier import ClassifierTraining
    from safety_features.phases.jobs import train_classifier_job

    # argparse has checked the counts, so these settings are valid.
    training = ClassifierTraining(epochs=args.epochs, folds=args.folds, seed=args.seed)
    summary = train_classifier_job(
        config_path(args.data),
        args.out,
        config_path(args.concepts) if args.concepts else None,
        args.model,
        args.split,
        training,
        overwrite=args.overwrite,
        progress=not args.json,
    )
    if args.json:
        print_json(summary)
        return
    print(
        f"out-of-fold onset F1 {summary['out_of_fold_onset_f1']:.3f} on "
        f"{summary['n_responses']} {args.split} responses ({summary['n_clauses']} clauses)"
    )
    print(
        f"Classifier saved to {summary['path']}: use it with --scorer classifier "
        f"--classifier {summary['path']}"
    )


def _add_phase_data_options(
    parser: argparse.ArgumentParser, split: str, scorers: bool = True
) -> None:
    parser.add_argument(
        "--data",
        default=DEFAULT_PHASE_DATA,
        help=f"labelled responses, JSONL (default {DEFAULT_PHASE_DATA})",
    )
    parser.add_argument(
        "--concepts", help="concept set YAML (default configs/concepts/safety.yaml)"
    )
    if scorers:
        parser.add_argument(
            "--scorers",
            default="embedding,lexical,hybrid",
            help="comma-separated scorers (default embedding,lexical,hybrid)",
        )
    parser.add_argument(
        "--model",
        default="organism:chat",
        help="model whose tokenizer defines token positions (default organism:chat)",
    )
    parser.add_argument(
        "--split",
        default=split,
        help=(
            f"labelled splits to use, comma-separated (default {split})"
            if "," in split
            else f"labelled split to use (default {split})"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def add_experiment_command(
    commands, name: str, default_config: str, summary: str, description: str
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary, description=description)
    parser.add_argument(
        "--config",
        default=default_config,
        help=f"YAML experiment config (default {default_config})",
    )
    parser.add_argument("--out", required=True, help="run folder to write into")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in --out (a folder with metrics.json)",
    )
    parser.add_argument("--json", action="store_true", help="print metrics.json")
    parser.set_defaults(handler=command_experiment)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safety-features",
        description="Find where safety-tuned language models enter the safety phase, and which SAE features trigger it.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {package_version('safety-features')}"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the main job (generate, detect, SAE, rank, clamp) into a run folder",
        description="Load or train the SAE, generate on held-out prompts and detect phases, "
        "write a short occurrence report, attribute onsets to SAE features, clamp and steer "
        "them with controls, index the features, and write metrics, plots and a report.",
    )
    run.add_argument(
        "--config",
        default=DEFAULT_RUN_CONFIG,
        help=f"YAML run config (default {DEFAULT_RUN_CONFIG})",
    )
    run.add_argument(
        "--out", required=True, help="run folder to write metrics.json, report and responses into"
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished run in --out (a folder with metrics.json)",
    )
    run.add_argument("--json", action="store_true", help="print metrics.json instead of the table")
    run.set_defaults(handler=command_run)

    add_experiment_command(
        commands,
        "attribute",
        DEFAULT_ATTRIBUTE_CONFIG,
        "attribute safety onsets to SAE features, with bootstrap intervals and baselines",
        "Generate on the prompt suite, detect safety onsets, attribute each onset to every SAE "
        "feature and the SAE error node (attribution patching or integrated gradients), and "
        "write attribution.json, attribution.png, manifest.json and metrics.json into --out.",
    )
    steer = add_experiment_command(
        commands,
        "steer",
        DEFAULT_STEER_CONFIG,
        "clamp onset features to suppress or trigger the safety phase, with controls",
        "Attribute onsets (or take the features of an attribute run), then clamp the top "
        "features to 0 on harmful prompts and high on benign prompts, over a range of "
        "strengths, beside random feature sets and the refusal direction; measure transition "
        "probability, onset delay, phase duration and side effects with intervals over prompts "
        "and seeds.",
    )
    steer.add_argument(
        "--features-from", help="an attribute run folder whose top features are clamped"
    )

    occurrence = commands.add_parser(
        "occurrence",
        help="when the safety phase occurs: rates, onsets, clusters, prefilling, KL, probe",
        description="Generate greedy and sampled responses on a prompt suite with categories, "
        "detect their phases, and write a report folder (report.html, occurrence.json, plots): "
        "safety-phase rates per category with intervals and tests, onset positions and "
        "preceding phases, clusters of the safety sentences, prefilling of compliant answers, "
        "KL(chat ‖ base) by position, and a linear probe on the last prompt token.",
    )
    occurrence.add_argument(
        "--config",
        default=DEFAULT_OCCURRENCE_CONFIG,
        help=f"YAML occurrence config (default {DEFAULT_OCCURRENCE_CONFIG})",
    )
    occurrence.add_argument("--out", required=True, help="report folder to write into")
    occurrence.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a finished report in --out (a folder with occurrence.json)",
    )
    occurrence.add_argument("--json", action="store_true", help="print occurrence.json")
    occurrence.set_defaults(handler=command_occurrence)

    add_lookup_commands(commands)

    organism = commands.add_parser(
        "organism", help="build or evaluate the safety-tuned model organism"
    )
    organism_commands = organism.add_subparsers(
        dest="organism_command", required=True, metavar="COMMAND"
    )
    build = organism_commands.add_parser(
        "build", help="generate the corpus and train the base and chat checkpoints"
    )
    build.add_argument(
        "--config",
        default=DEFAULT_ORGANISM_CONFIG,
        help=f"YAML organism config (default {DEFAULT_ORGANISM_CONFIG})",
    )
    build.add_argument(
        "--out",
        default="checkpoints/organism",
        help="folder for base/ and chat/ (default checkpoints/organism)",
    )
    build.add_argument("--seed", type=int, help="override the config's seed")
    build.add_argument(
        "--base",
        help="tune chat from this existing base checkpoint folder instead of pretraining a new "
        "one (it must come from a build with the same corpus settings)",
    )
    build.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the checkpoints already in --out once the build ends",
    )
    build.add_argument("--json", action="store_true", help="print the build summary as JSON")
    build.set_defaults(handler=command_organism_build)

    evaluate = organism_commands.add_parser(
        "eval",
        help="safety-phase rates of chat and base on held-out prompts",
        description="Generate greedy responses of the chat and base models to held-out prompts "
        "of every group (templates and fillers never seen in tuning), find refusal and equality "
        "phrases with the lexicon detector, and print the rates by group and harm category.",
    )
    evaluate.add_argument(
        "--chat",
        default="organism:chat",
        help="tuned model: organism name, checkpoint folder or TransformerLens name (default organism:chat)",
    )
    evaluate.add_argument(
        "--base",
        default="organism:base",
        help="pretrained model, in the same forms as --chat (default organism:base)",
    )
    evaluate.add_argument(
        "--n-per-group",
        type=positive_int,
        default=50,
        help="held-out prompts per group (default 50)",
    )
    evaluate.add_argument(
        "--seed", type=int, default=1, help="seed of the held-out prompt sample (default 1)"
    )
    evaluate.add_argument(
        "--json", action="store_true", help="print a JSON object with chat and base sections"
    )
    evaluate.set_defaults(handler=command_organism_eval)

    train_sae = commands.add_parser(
        "train-sae",
        help="train an SAE with SAELens from a YAML config",
        description="Generate transcripts, cache activations at the configured hook, train the "
        "configured SAELens architecture with W&B tracking (offline by default), and save the "
        "SAE in SAELens' on-disk format.",
    )
    train_sae.add_argument(
        "config", help="YAML SAE training config, e.g. configs/sae/organism.yaml"
    )
    train_sae.add_argument(
        "--out", help="folder for the SAE checkpoint (default: checkpoints/saes/<run_name>)"
    )
    train_sae.add_argument(
        "--work-dir",
        help="folder for resumable checkpoints and W&B files (default: runs/saes/<run_name>)",
    )
    train_sae.add_argument(
        "--resume", action="store_true", help="continue from the work folder's last checkpoint"
    )
    train_sae.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an SAE already in --out once training ends, and drop old checkpoints",
    )
    train_sae.add_argument("--json", action="store_true", help="print the training summary as JSON")
    train_sae.set_defaults(handler=command_train_sae)

    phases = commands.add_parser(
        "phases",
        help="detect concept phases, onsets and transitions in a file of generations",
        description="Read JSONL generations (id, prompt, response), or generate the responses "
        "from the prompts when no record has one, then write phases.jsonl, phases.html, score "
        "plots and summary.json into --out.",
    )
    phases.add_argument("input", help="JSONL file with one {id, prompt, response} object per line")
    phases.add_argument("--out", required=True, help="output folder")
    phases.add_argument(
        "--concepts", help="concept set YAML (default configs/concepts/safety.yaml)"
    )
    phases.add_argument(
        "--scorer",
        default="embedding",
        choices=("embedding", "lexical", "hybrid", "annotation", "classifier"),
        help="membership scorer (default embedding)",
    )
    phases.add_argument("--annotations", help="labelled spans, JSONL, for --scorer annotation")
    phases.add_argument("--classifier", help="trained classifier folder, for --scorer classifier")
    phases.add_argument(
        "--model",
        default="organism:chat",
        help="model that tokenizes the responses, and generates them when the input has none "
        "(default organism:chat)",
    )
    phases.add_argument(
        "--max-new-tokens",
        type=int,
        default=64,
        help="response length limit when generating (default 64)",
    )
    phases.add_argument(
        "--plots",
        type=int,
        default=10,
        help="score plots to draw, for responses with phases (default 10)",
    )
    phases.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier phases output in --out (a folder with summary.json)",
    )
    phases.add_argument("--json", action="store_true", help="print summary.json")
    phases.set_defaults(handler=command_phases)

    calibrate = commands.add_parser(
        "calibrate-phases",
        help="calibrate phase thresholds on labelled responses and store them beside the concept set",
        description="Choose the enter and exit thresholds of each concept and the minimum phase "
        "length by onset F1 on the labelled split, and write them into the thresholds file "
        "beside the concept set (configs/concepts/safety.thresholds.json by default). That file "
        "is tracked in git and read by `phases` and the main job, so their results change with it.",
    )
    _add_phase_data_options(calibrate, "dev")
    calibrate.set_defaults(handler=command_calibrate_phases)

    evaluate_phases = commands.add_parser(
        "evaluate-phases",
        help="onset precision, recall and F1 of the phase scorers on labelled responses",
        description="Score the phase scorers (--scorers) on one split of a labelled JSONL set "
        "(--split, default test): onset precision, recall and F1, per concept, and "
        "response-level agreement.",
    )
    _add_phase_data_options(evaluate_phases, "test")
    evaluate_phases.add_argument(
        "--classifier", help="trained classifier folder, when --scorers lists classifier"
    )
    evaluate_phases.set_defaults(handler=command_evaluate_phases)

    train_classifier = commands.add_parser(
        "train-classifier",
        help="fine-tune MiniLM into a phase scorer that reads the request and the clause before",
        description="Fine-tune all-MiniLM-L6-v2 on the concept examples and the labelled splits "
        "(--split, default dev,train) to give each clause a probability per concept, in the context of "
        "the request and the clause before it. Thresholds are calibrated on out-of-fold scores. "
        "Writes the weights (safetensors) and classifier.json into --out; use them with "
        "`phases --scorer classifier --classifier DIR`.",
    )
    _add_phase_data_options(train_classifier, "dev,train", scorers=False)
    train_classifier.add_argument("--out", required=True, help="output folder for the classifier")
    train_classifier.add_argument(
        "--epochs", type=positive_int, default=5, help="passes over the training data (default 5)"
    )
    train_classifier.add_argument(
        "--folds",
        type=lambda text: int_at_least(text, 2),
        default=3,
        help="folds for the threshold calibration, 2 or more (default 3)",
    )
    train_classifier.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train_classifier.add_argument(
        "--overwrite", action="store_true", help="replace a classifier already in --out"
    )
    train_classifier.set_defaults(handler=command_train_classifier)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # SIGTERM unwinds like Ctrl-C, so temporary run folders are removed on the way out.
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        args.handler(args)
    except BrokenPipeError:  # the reader of our output, such as `head`, closed it early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as interruption:
        print(
            "interrupted: output folders were left as they were before the command", file=sys.stderr
        )
        signum = getattr(interruption, "signum", signal.SIGINT)
        return 128 + int(signum)  # the shell's status for a process ended by that signal
    except Exception as error:
        if not isinstance(error, quick_user_errors()) and not isinstance(error, user_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


class Terminated(KeyboardInterrupt):
    """A termination signal, handled like Ctrl-C: output folders are left as they were."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def stop_on_signal(signum: int, frame) -> None:
    raise Terminated(signum)


def quick_user_errors() -> tuple[type[Exception], ...]:
    """User errors of the commands that never import torch (`lookup`, `top`, `search`).

    They are checked before `user_errors`, whose imports take seconds, so an error exit of these
    commands takes as little time as a normal one.
    """
    from safety_features.files import OutputFolderError
    from safety_features.lookup.store import FeatureIndexError, LookupInputError

    return (ConfigError, OutputFolderError, FeatureIndexError, LookupInputError, FileNotFoundError)


def user_errors() -> tuple[type[Exception], ...]:
    """Exceptions caused by the user's input, printed as one line instead of a traceback.

    They are imported only after a command fails, so a quick command such as `lookup` does not
    pay for importing torch and the rest of the toolkit.
    """
    from safety_features.attribution.onset_contrast import NoOnsetsError
    from safety_features.experiments.main_job import RunFolderError
    from safety_features.experiments.onsets import ExperimentInputError
    from safety_features.files import OutputFolderError
    from safety_features.lookup.store import FeatureIndexError, LookupInputError
    from safety_features.models.loading import ModelLoadError
    from safety_features.organism.train import OrganismBaseError, OrganismExistsError
    from safety_features.phases.classifier import ClassifierDataError
    from safety_features.phases.concepts import ConceptSetError
    from safety_features.phases.jobs import PhasesInputError
    from safety_features.phases.scorers import AnnotationError, ScorerError
    from safety_features.saes.activations import HookNotFoundError
    from safety_features.saes.cache import ActivationCacheError
    from safety_features.saes.checkpoints import CheckpointError
    from safety_features.saes.loading import SAELoadError
    from safety_features.saes.training import SAEExistsError, SAESaveError
    from safety_features.steering.interventions import InterventionError

    return (
        ConfigError,
        ModelLoadError,
        SAELoadError,
        SAEExistsError,
        SAESaveError,
        CheckpointError,
        ActivationCacheError,
        FloatingPointError,
        HookNotFoundError,
        RunFolderError,
        NoOnsetsError,
        ConceptSetError,
        PhasesInputError,
        AnnotationError,
        ScorerError,
        ClassifierDataError,
        OrganismExistsError,
        OrganismBaseError,
        ExperimentInputError,
        InterventionError,
        OutputFolderError,
        FeatureIndexError,
        LookupInputError,
        FileNotFoundError,
    )


if __name__ == "__main__":
    sys.exit(main())
