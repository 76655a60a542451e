"""Train an SAE from a YAML config: `python train/sae.py --config configs/sae/organism.yaml --out DIR`."""

import argparse
import sys

from safety_features.cli import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="YAML SAE training config")
    parser.add_argument("--out", required=True, help="folder for the SAE checkpoint")
    parser.add_argument("--json", action="store_true", help="print the training summary as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace an SAE already in --out")
    args = parser.parse_args()
    flags = [flag for flag, on in (("--json", args.json), ("--overwrite", args.overwrite)) if on]
    sys.exit(main(["train-sae", args.config, "--out", args.out, *flags]))
