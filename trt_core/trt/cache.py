"""The on-disk engine cache: build once per (model, TensorRT, GPU, options), load after.

N replicas starting together on one node ask for the same engine: the first takes an
inter-process file lock and builds, the others wait on the lock and then load what it
wrote.  Engines are written to a temporary file and renamed into place, so a reader never
sees half an engine.  An engine that cannot be loaded (truncated, another TensorRT,
another GPU) is logged, removed and rebuilt.

The build and load steps are callables handed in by the caller, so the cache logic runs
(and is tested, across real processes) without TensorRT.  ``load`` must raise
:class:`~trt_core.errors.ModelLoadError` for bytes it cannot use; any other exception is
not the file's fault and is passed on without touching the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from trt_core.errors import EngineBuildError, ModelLoadError
from trt_core.trt.options import BuildOptions

log = logging.getLogger(__name__)
T = TypeVar("T")
CACHE_ENV = "TRT_DETECT_CACHE"
KEY_VERSION = 1


def default_cache_dir() -> Path:
    """``$TRT_DETECT_CACHE``, else ``$XDG_CACHE_HOME/trt-detect/engines`` (``~/.cache/...``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trt-detect" / "engines"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on.  ``model_name`` only names the file.

    ``recipe`` is what the builder does to the graph (uint8 scale, fp16 strategy); ``graph``
    is the :class:`~trt_core.graph.GraphRecipe` that prepared the ONNX (decode, top-K, ...),
    empty for a graph not made by :func:`~trt_core.graph.prepare_graph`.
    """

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    options: Mapping[str, Any]
    recipe: Mapping[str, Any]
    model_name: str = "model"
    graph: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        onnx_bytes: bytes,
        options: BuildOptions,
        *,
        tensorrt_version: str,
        gpu_name: str,
        compute_capability: tuple[int, int],
        recipe: Mapping[str, Any],
        model_name: str = "model",
        graph: Mapping[str, Any] | None = None,
    ) -> EngineKey:
        return cls(
            onnx_sha256=hashlib.sha256(onnx_bytes).hexdigest(),
            tensorrt_version=str(tensorrt_version),
            gpu_name=str(gpu_name),
            compute_capability=(int(compute_capability[0]), int(compute_capability[1])),
            options=dict(options.key_fields()),
            recipe=dict(recipe),
            model_name=model_name,
            graph=dict(graph or {}),
        )

    def fields(self) -> dict[str, Any]:
        return {
            "key_version": KEY_VERSION,
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "compute_capability": list(self.compute_capability),
            "options": dict(self.options),
            "recipe": dict(self.recipe),
            **({"graph": dict(self.graph)} if self.graph else {}),
        }

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def filename(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.model_name).strip("._") or "model"
        precision = self.options.get("precision", "x")
        batch = self.options.get("max_batch", "x")
        return f"{stem[:60]}-{precision}-b{batch}-{self.digest[:20]}.engine"


@dataclass(frozen=True)
class CacheResult(Generic[T]):
    value: T
    path: Path
    built: bool  # False: loaded from the cache
    build_seconds: float | None = None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, fsync, and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class EngineCache:
    """Engines under ``directory`` (default :func:`default_cache_dir`), one file per key."""

    def __init__(self, directory: str | Path | None = None, *, lock_timeout: float = 3600.0) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.lock_timeout = lock_timeout

    def path(self, key: EngineKey) -> Path:
        return self.directory / key.filename

    def get_or_build(self, key: EngineKey, build: Callable[[], bytes], load: Callable[[bytes], T]) -> CacheResult[T]:
        """Load the engine for ``key``, building it (once across processes) when needed."""
        from filelock import FileLock, Timeout

        path = self.path(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineBuildError(
                f"cannot create the engine cache {self.directory}: {exc}", hint=f"set ${CACHE_ENV} to a writable folder"
            ) from None
        value, rejected = self._load(path, load)
        if value is not None:
            return CacheResult(value[0], path, built=False)
        lock = FileLock(str(path) + ".lock", timeout=self.lock_timeout)
        try:
            with lock:
                # Another process may have built (or replaced a bad file) while we waited.
                if path.exists() and (rejected is None or _sha256_file(path) != rejected):
                    value, rejected = self._load(path, load)
                    if value is not None:
                        return CacheResult(value[0], path, built=False)
                if path.exists():
                    log.warning("removing unusable engine %s; rebuilding it", path)
                    path.unlink(missing_ok=True)
                return self._build(key, path, build, load)
        except Timeout:
            raise EngineBuildError(
                f"waited {self.lock_timeout:.0f}s for another process building {path.name}",
                hint=f"another replica is still building; if none is, delete {path}.lock",
            ) from None

    def _load(self, path: Path, load: Callable[[bytes], T]) -> tuple[tuple[T] | None, str | None]:
        """((value,), None) on success; (None, sha256 of the rejected bytes) or (None, None) if absent."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, None
        try:
            return (load(data),), None
        except ModelLoadError as exc:
            log.warning("cached engine %s cannot be loaded (%s)", path, exc)
            return None, hashlib.sha256(data).hexdigest()

    def _build(
        self, key: EngineKey, path: Path, build: Callable[[], bytes], load: Callable[[bytes], T]
    ) -> CacheResult[T]:
        log.info("building engine %s", path.name)
        start = time.perf_counter()
        data = build()
        seconds = time.perf_counter() - start
        if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
            raise EngineBuildError("the engine builder returned no data", hint="see the TensorRT log above")
        data = bytes(data)
        atomic_write(path, data)
        meta = {
            **key.fields(),
            "model_name": key.model_name,
            "bytes": len(data),
            "build_seconds": round(seconds, 3),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
        }
        atomic_write(path.with_suffix(".json"), json.dumps(meta, indent=2).encode())
        try:
            value = load(data)
        except ModelLoadError as exc:
            path.unlink(missing_ok=True)
            raise EngineBuildError(
                f"the freshly built engine cannot be loaded: {exc.message}", hint=exc.hint or "see the TensorRT log"
            ) from exc
        return CacheResult(value, path, built=True, build_seconds=seconds)


def _sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
