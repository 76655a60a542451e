"""Build the organism from a YAML config: `python train/organism.py --config configs/organism.yaml`."""

import sys

from safety_features.cli import main

if __name__ == "__main__":
    sys.exit(main(["organism", "build", *sys.argv[1:]]))
