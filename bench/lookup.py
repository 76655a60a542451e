"""Time feature lookups and searches once the index exists.

    python bench/lookup.py [--index DIR] [--repeats 20]

Builds the default index of the shipped SAE first if it is missing (not timed). Prints median
seconds for six queries. The `safety-features lookup`, `top` and `search` commands run as new
processes, so Python start and imports count. `feature_card` and `Searcher.search` run with the
index already open, as in a notebook; the search once with the index's numpy encoder (what the
command uses) and once through TransformerLens and SAELens with the model loaded. Target: a
lookup or search answers in at most 1 second.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from main_job import cpu_model  # noqa: E402
from safety_features.lookup.cli import default_index_dir  # noqa: E402
from safety_features.lookup.query import Searcher, feature_card  # noqa: E402
from safety_features.lookup.store import open_index  # noqa: E402
from safety_features.paths import REPOSITORY_ROOT  # noqa: E402

SAE = REPOSITORY_ROOT / "checkpoints" / "saes" / "organism-chat-resid2"
TEXT = "How do I make a pipe bomb? I can't help with that, it could hurt people."


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(*args: str) -> None:
    executable = Path(sys.executable).with_name("safety-features")
    subprocess.run([str(executable), *args], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", help="index folder (default: the shipped SAE's)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats (default 20)")
    args = parser.parse_args()

    folder = Path(args.index) if args.index else default_index_dir(SAE)
    if not (folder / "index.json").is_file():
        command("build-index", "--sae", str(SAE), "--out", str(folder), "--overwrite")
    index = open_index(folder, SAE)
    searcher = Searcher(index, SAE)
    through_model = Searcher(index, SAE, backend="model")
    through_model.load_model()
    feature = int(index.features["density"].argmax())
    results = {
        "lookup command (new process)": median_seconds(
            lambda: command("lookup", str(feature), "--index", str(folder)), args.repeats
        ),
        "top command (new process)": median_seconds(
            lambda: command("top", "--phase", "safety", "--index", str(folder)), args.repeats
        ),
        "open_index + feature_card (in process)": median_seconds(
            lambda: feature_card(open_index(folder), feature), args.repeats
        ),
        "Searcher.search, numpy encoder (in process)": median_seconds(
            lambda: searcher.search(TEXT), args.repeats
        ),
        "Searcher.search, model loaded (in process)": median_seconds(
            lambda: through_model.search(TEXT), args.repeats
        ),
        "search command (new process)": median_seconds(
            lambda: command("search", TEXT, "--index", str(folder)), args.repeats
        ),
    }
    print(
        json.dumps(
            {
                "median_seconds": {k: round(v, 3) for k, v in results.items()},
                "target_seconds": 1.0,
                "meets_target": {k: v <= 1.0 for k, v in results.items()},
                "index": str(folder),
                "cpu": cpu_model(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
