"""Image arguments: files, folders (their image files, sorted) and quoted globs."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from trt_core.cli.common import UsageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
T = TypeVar("T")


def expand_images(arguments: Sequence[str]) -> list[Path]:
    """Every image the arguments name, in order; a folder gives its image files (not recursive,
    sorted by name), a glob its matches (sorted).  Raises :class:`UsageError` naming each
    argument that matches nothing."""
    paths: list[Path] = []
    missing: list[str] = []
    empty: list[str] = []
    for argument in arguments:
        found = _expand(argument)
        if found is None:
            missing.append(argument)
        elif not found:
            empty.append(argument)
        paths += found or []
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}", hint="check the path(s)")
    if empty:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise UsageError(f"no image files in {', '.join(empty)}", hint=f"image files end in {suffixes}")
    return paths


def _expand(argument: str) -> list[Path] | None:
    path = Path(argument)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if path.exists():
        return [path]
    if any(c in argument for c in "*?["):
        return sorted(Path(p) for p in glob.glob(argument) if Path(p).is_file()) or None
    return None


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
