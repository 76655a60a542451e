"""The feature-lookup commands: build-index, lookup, search, top and dashboard.

Only argparse and pathlib are imported here; each command imports what it needs when it runs,
so `lookup` and `top` start without torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safety_features.cli_common import config_path, positive_int, print_json
from safety_features.config import load_config

DEFAULT_SAE = "checkpoints/saes/organism-chat-resid2"


def default_index_dir(sae_path: Path) -> Path:
    """cache/index/<SAE folder name>-<first 12 hex digits of its weights' SHA-256>."""
    from safety_features.lookup.store import sha256_of
    from safety_features.paths import REPOSITORY_ROOT

    weights = sae_path / "sae_weights.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(
            f"SAE folder {sae_path} has no sae_weights.safetensors: pass --sae with an SAE folder."
        )
    return REPOSITORY_ROOT / "cache" / "index" / f"{sae_path.name}-{sha256_of(weights)[:12]}"


def index_for(args: argparse.Namespace):
    """Open --index, or the default index of --sae, building the default one if it is missing."""
    from safety_features.lookup.store import open_index

    sae_path = config_path(args.sae)
    if args.index:
        return open_index(args.index, sae_path if args.sae != DEFAULT_SAE else None)
    folder = default_index_dir(sae_path)
    if not (folder / "index.json").is_file():
        from safety_features.lookup.build import build_index
        from safety_features.lookup.config import IndexConfig

        print(f"Building the feature index of {sae_path} in {folder} (once).", file=sys.stderr)
        build_index(IndexConfig(sae_path=str(sae_path)), folder, progress=True, overwrite=True)
    return open_index(folder, sae_path)


def run_roots(args: argparse.Namespace) -> list[Path]:
    from safety_features.paths import REPOSITORY_ROOT

    if args.runs:
        return [Path(r) for r in args.runs]
    return list(dict.fromkeys([Path("runs").resolve(), REPOSITORY_ROOT / "runs"]))


def command_build_index(args: argparse.Namespace) -> None:
    from safety_features.lookup.build import build_index
    from safety_features.lookup.config import IndexConfig

    if args.config:
        config = load_config(IndexConfig, config_path(args.config))
    else:
        config = IndexConfig(sae_path=args.sae)
    out = Path(args.out) if args.out else default_index_dir(config_path(config.sae_path))
    folder = build_index(config, out, progress=not args.json, overwrite=args.overwrite)
    if args.json:
        print_json({"index": str(folder)})
    else:
        print(f"Index written to {folder}")


def command_lookup(args: argparse.Namespace) -> None:
    from safety_features.lookup.query import feature_card
    from safety_features.lookup.render import format_card

    index = index_for(args)
    card = feature_card(index, args.feature, run_roots(args))
    if args.json:
        print_json(card)
    else:
        print(format_card(card, colour=sys.stdout.isatty()))


def command_top(args: argparse.Namespace) -> None:
    from safety_features.lookup.query import top_features

    index = index_for(args)
    ranked = top_features(index, args.phase, args.n, args.min_density)
    if args.json:
        print_json(ranked)
        return
    if not ranked:
        print(f"No feature with an AUROC for {args.phase} has density above {args.min_density}.")
        return
    print(f"{'feature':>8}  {'AUROC':>6}  {'density':>8}  decoder top tokens")
    for row in ranked:
        tokens = " ".join(repr(t) for t in row["decoder_top_tokens"])
        print(f"{row['feature']:>8}  {row['auroc']:6.3f}  {row['density']:8.4%}  {tokens}")


def command_search(args: argparse.Namespace) -> None:
    from safety_features.lookup.query import Searcher

    index = index_for(args)
    if not args.text.strip():
        from safety_features.lookup.store import LookupInputError

        raise LookupInputError("The text is empty: pass the text to search for features in.")
    searcher = Searcher(
        index, None if args.index and args.sae == DEFAULT_SAE else config_path(args.sae)
    )
    result = searcher.search(args.text, chat=args.chat, k=args.k, prompt=args.prompt)
    if args.json:
        print_json(result)
        return
    for token in result["tokens"]:
        features = ", ".join(f"{f['feature']} ({f['activation']:.2f})" for f in token["features"])
        print(f"{token['token']!r:>16}  {features}")
    print("\nmost active over the text: " + ", ".join(str(f["feature"]) for f in result["top"]))


def command_dashboard(args: argparse.Namespace) -> None:
    from safety_features.lookup.query import top_features
    from safety_features.lookup.render import write_dashboard
    from safety_features.lookup.store import LookupInputError

    if args.all and args.features is not None:
        raise LookupInputError("--all and --features both choose features: give one of them.")
    if args.features is not None:
        try:
            features = [int(f) for f in args.features.split(",")]
        except ValueError as error:
            raise LookupInputError(
                f"--features {args.features!r} is invalid: give feature ids separated by commas, "
                "such as 12,340,4739."
            ) from error
    index = index_for(args)
    if args.all:
        features = list(range(index.d_sae))
    elif args.features is not None:
        for feature in features:
            index.check_feature(feature)
    else:
        features = [row["feature"] for row in top_features(index, index.labels[0], args.top)]
    folder = write_dashboard(
        index, args.out, features, run_roots(args), progress=not args.json, overwrite=args.overwrite
    )
    if args.json:
        print_json({"dashboard": str(folder / "index.html"), "features": features})
    else:
        print(f"Dashboard: {folder / 'index.html'} ({len(features)} feature pages)")


def add_index_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--index", help="feature index folder (default: the one for --sae, built if missing)"
    )
    parser.add_argument("--sae", default=DEFAULT_SAE, help=f"SAE folder (default {DEFAULT_SAE})")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_lookup_commands(commands) -> None:
    """Register the lookup commands on the `safety-features` subcommand parser."""
    build_index = commands.add_parser(
        "build-index",
        help="build the feature index of an SAE: contexts, density, decoder tokens, enrichment",
        description="Generate a corpus of transcripts with the SAE's model, detect their phases, "
        "stream them through the model and the SAE, and write per-feature statistics in "
        "safetensors and JSON files (default folder cache/index/<SAE>-<hash>).",
    )
    build_index.add_argument(
        "--sae", default=DEFAULT_SAE, help=f"SAE folder (default {DEFAULT_SAE})"
    )
    build_index.add_argument("--config", help="YAML index config (IndexConfig); overrides --sae")
    build_index.add_argument("--out", help="index folder (default cache/index/<SAE>-<hash>)")
    build_index.add_argument(
        "--overwrite", action="store_true", help="replace an index already in --out"
    )
    build_index.add_argument("--json", action="store_true", help="print the index folder as JSON")
    build_index.set_defaults(handler=command_build_index)

    lookup = commands.add_parser(
        "lookup",
        help="show a feature's card: contexts, decoder tokens, enrichment, attribution ranks",
        description="Print everything the feature index stores for one feature: its top "
        "contexts and quantile samples with the activating token marked, density, the top and "
        "bottom tokens of its decoder direction, its phase and onset AUROCs, and its rank in "
        "every attribution run that used the same SAE.",
    )
    lookup.add_argument("feature", type=int, help="feature id")
    add_index_options(lookup)
    lookup.add_argument(
        "--runs",
        nargs="*",
        help="folders holding experiment runs, searched for attribution ranks (default runs/)",
    )
    lookup.set_defaults(handler=command_lookup)

    search = commands.add_parser(
        "search",
        help="list the features most active on a text, per token",
        description="Run the text through the model and the SAE (with numpy, from weights the "
        "index exports, for GPT-2-style models) and list the most active features on each "
        "token and over the whole text.",
    )
    search.add_argument("text", help="the text to encode")
    search.add_argument(
        "--chat", action="store_true", help="format the text as a user prompt in the chat template"
    )
    search.add_argument(
        "--prompt",
        help="score the text as the assistant's response to this user prompt (chat template)",
    )
    search.add_argument(
        "--k", type=positive_int, default=5, help="features shown per token (default 5)"
    )
    add_index_options(search)
    search.set_defaults(handler=command_search)

    top = commands.add_parser(
        "top",
        help="rank features by phase enrichment (AUROC)",
        description="List the features whose activation best separates tokens inside a phase "
        "concept from the others (AUROC), or, with --phase onset, tokens shortly before a "
        "safety onset.",
    )
    top.add_argument(
        "--phase",
        default="safety",
        help="phase concept of the index's concept set, or onset (default safety)",
    )
    top.add_argument("--n", type=positive_int, default=20, help="features listed (default 20)")
    top.add_argument(
        "--min-density",
        type=float,
        default=0.0,
        help="leave out features active on this share of tokens or fewer (default 0)",
    )
    add_index_options(top)
    top.set_defaults(handler=command_top)

    dashboard = commands.add_parser(
        "dashboard",
        help="write static HTML pages, one per feature, plus an index page",
        description="Write one HTML page per feature (the lookup card, with contexts shaded by "
        "activation) and an index page, for the features chosen by --features, --top or --all.",
    )
    dashboard.add_argument(
        "--out", default="runs/dashboard", help="folder for the pages (default runs/dashboard)"
    )
    dashboard.add_argument("--features", help="comma-separated feature ids to render")
    dashboard.add_argument(
        "--top",
        type=positive_int,
        default=200,
        help="without --features: the N features most enriched for the first phase concept "
        "(default 200)",
    )
    dashboard.add_argument("--all", action="store_true", help="render every feature")
    dashboard.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier dashboard in --out (a folder with dashboard.json)",
    )
    dashboard.add_argument("--runs", nargs="*", help="folders searched for attribution ranks")
    add_index_options(dashboard)
    dashboard.set_defaults(handler=command_dashboard)
