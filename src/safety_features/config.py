"""YAML configs mapped one to one onto dataclasses, with unknown keys rejected by name."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or mapping that does not fit its dataclass."""


PHASE_SCORERS = ("embedding", "lexical", "hybrid")
"""Phase scorers a config can name. "classifier:DIR" names a trained classifier folder."""
CLASSIFIER_PREFIX = "classifier:"


def check_phase_scorer(name: str, value: str) -> None:
    """Raise ValueError unless `value` is one of PHASE_SCORERS or "classifier:DIR"."""
    if value in PHASE_SCORERS:
        return
    if value.startswith(CLASSIFIER_PREFIX) and value[len(CLASSIFIER_PREFIX) :].strip():
        return
    raise ValueError(
        f"{name}={value!r} is invalid: use one of {', '.join(PHASE_SCORERS)}, or "
        f"'{CLASSIFIER_PREFIX}DIR' for a folder written by `safety-features train-classifier`."
    )


def config_from_dict(cls: type[T], values: dict[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from a mapping, recursing into nested dataclass fields.

    Raises ConfigError naming the key path (``where``) for an unknown key or a wrong type, and
    re-raises the dataclass's own ValueError with the key path in front.
    """
    if not isinstance(values, dict):
        raise ConfigError(
            f"{where} must be a mapping of keys to values, got {type(values).__name__}."
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown key {_key_path(where, unknown[0])}: valid keys are "
            f"{', '.join(sorted(fields))}. Remove it or fix its spelling."
        )

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _convert(hints[name], value, _key_path(where, name))
    try:
        return cls(**kwargs)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}" if where else str(error)) from error


def _key_path(where: str, name: str) -> str:
    """Join a key to its parent's path; top-level keys of a file have no parent."""
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            return _convert(options[0], value, where)
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}={value!r} is invalid: expected a list.")
        return tuple(value) if origin is tuple else list(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        fix = "Quote it as text." if hint is str else "Write it without quotes."
        raise ConfigError(f"{where}={value!r} is invalid: expected {hint.__name__}. {fix}")
    return value


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a YAML file into dataclass `cls`; an empty file gives the defaults."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} not found: pass the path of an existing YAML file.")
    try:
        with path.open(encoding="utf-8") as file:  # a stream, so errors name the file
            values = yaml.safe_load(file) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"Config file {path} is not valid YAML: {error}") from error
    try:
        return config_from_dict(cls, values, where="")
    except ConfigError as error:
        raise ConfigError(f"Config file {path}: {error}") from error


def config_to_dict(config: Any) -> dict[str, Any]:
    """Resolved config as plain data, for saving into run folders."""
    return dataclasses.asdict(config)
