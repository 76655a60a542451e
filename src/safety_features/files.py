"""File writes that never leave a half-written file or folder behind, and content hashes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600 files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively, so the JSON is strict."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write strict JSON (NaN and infinities as null) under a temporary name, then rename."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


class OutputFolderError(RuntimeError):
    """An output folder that cannot be replaced without losing files the command did not write."""


def check_output_folder(path: str | Path, marker: str, overwrite: bool) -> Path:
    """Return `path` resolved, or raise OutputFolderError if writing there could lose files.

    The folder is replaced whole, so it must be absent, empty, or an earlier output of the same
    command (recognized by the file `marker`) with `overwrite` set.
    """
    resolved = Path(path).expanduser().resolve()
    if resolved.exists() and not resolved.is_dir():
        raise OutputFolderError(f"Output path {path} is a file: pass a folder path to --out.")
    if not resolved.exists() or not any(resolved.iterdir()):
        return resolved
    if not (resolved / marker).exists():
        raise OutputFolderError(
            f"Output folder {path} contains files that this command did not write (no {marker}), "
            "and it would replace the whole folder: pass a new or empty folder to --out."
        )
    if not overwrite:
        raise OutputFolderError(
            f"Output folder {path} already contains results ({marker}). Pass another --out "
            "folder, or --overwrite to replace them."
        )
    return resolved


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` whole.

    An existing `path` is moved aside first and deleted only after the new folder is in place,
    so an exception at any point leaves the old folder untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(temporary, 0o755)  # mkdtemp creates 0700 folders
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _make_files_readable(temporary)
    previous = None
    if path.exists():
        previous = path.with_name(f".{path.name}.old")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(path, previous)
    os.replace(temporary, path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _make_files_readable(folder: Path) -> None:
    """Give files the mode the umask allows, since some writers (safetensors) create 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for file in folder.rglob("*"):
        if file.is_file():
            os.chmod(file, 0o666 & ~umask)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
