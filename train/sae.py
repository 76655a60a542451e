"""Train an SAE from a YAML config: `python train/sae.py --config configs/sae/organism.yaml`.

The same as `safety-features train-sae CONFIG`, with the same options.
"""

import argparse
import sys

from safety_features.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="YAML SAE training config")
    parser.add_argument("--out", help="folder for the SAE (default: checkpoints/saes/<run_name>)")
    parser.add_argument(
        "--work-dir", help="folder for checkpoints and W&B files (default: runs/saes/<run_name>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an SAE already in --out")
    parser.add_argument("--json", action="store_true", help="print the training summary as JSON")
    args = parser.parse_args()
    forwarded = ["train-sae", args.config]
    for flag, value in (("--out", args.out), ("--work-dir", args.work_dir)):
        if value:
            forwarded += [flag, value]
    for flag, on in (
        ("--resume", args.resume),
        ("--overwrite", args.overwrite),
        ("--json", args.json),
    ):
        if on:
            forwarded.append(flag)
    sys.exit(main(forwarded))
