"""Time the main job and each of its stages on this machine.

    python bench/main_job.py [--config configs/run.yaml] [--out runs/bench-main]

Prints a JSON object with the total and per-stage seconds, the thread count and the CPU model,
for docs/benchmarks.md. The target is at most 600 s on 2 CPU cores.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from safety_features.config import load_config
from safety_features.experiments.config import RunConfig
from safety_features.experiments.main_job import run_main_job


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config", default="configs/run.yaml", help="run config (default configs/run.yaml)"
    )
    parser.add_argument(
        "--out", default="runs/bench-main", help="run folder, overwritten (default runs/bench-main)"
    )
    args = parser.parse_args()

    config = load_config(RunConfig, args.config)
    start = time.perf_counter()
    result = run_main_job(config, args.out, progress=False, overwrite=True)
    wall = time.perf_counter() - start
    print(
        json.dumps(
            {
                "wall_seconds": round(wall, 1),
                "stage_seconds": {
                    k: round(v, 1) for k, v in result.metrics["stage_seconds"].items()
                },
                "sae_origin": result.metrics["sae_origin"],
                "torch_threads": torch.get_num_threads(),
                "cpu": cpu_model(),
                "target_seconds": 600,
                "meets_target": wall <= 600,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
