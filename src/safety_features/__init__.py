"""safety-features: mechanistic interpretability of the safety phase transition."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("safety-features")
except PackageNotFoundError:  # run from a source tree without installing
    __version__ = "unknown"
