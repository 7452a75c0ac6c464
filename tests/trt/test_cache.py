"""The engine cache: keys, build-once across real processes, invalidation.

The build and load steps are injected callables; here the builder writes bytes and the
loader checks them, so what is tested is the cache logic itself, in real processes.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import pytest

from trt_core.errors import EngineBuildError, ModelLoadError
from trt_core.graph import GraphRecipe
from trt_core.trt.cache import EngineCache, EngineKey, atomic_write, default_cache_dir
from trt_core.trt.options import BuildOptions

ENGINE = b"ENGINE:" + bytes(range(256)) * 64


def make_key(**changes: Any) -> EngineKey:
    base: dict[str, Any] = {
        "onnx_bytes": b"onnx-model-bytes",
        "options": BuildOptions(max_batch=8),
        "tensorrt_version": "10.16.1.11",
        "gpu_name": "NVIDIA H100 80GB HBM3",
        "compute_capability": (9, 0),
        "recipe": {"version": 1, "fp16": None, "uint8_input_scale": "0.00392"},
        "model_name": "shapes/yolov3 tiny",
    }
    base.update(changes)
    return EngineKey.create(base.pop("onnx_bytes"), base.pop("options"), **base)


def load_ok(data: bytes) -> bytes:
    if not data.startswith(b"ENGINE:"):
        raise ModelLoadError("not an engine")
    return data


# -- keys ------------------------------------------------------------------------------
def test_every_component_changes_the_key() -> None:
    base = make_key()
    variants = [
        make_key(onnx_bytes=b"onnx-model-bytes!"),
        make_key(tensorrt_version="11.4.0.106"),
        make_key(gpu_name="NVIDIA A100-SXM4-80GB"),
        make_key(compute_capability=(8, 0)),
        make_key(options=BuildOptions(max_batch=8, precision="fp16")),
        make_key(options=BuildOptions(max_batch=16)),
        make_key(options=BuildOptions(max_batch=8, opt_batch=4)),
        make_key(options=BuildOptions(max_batch=8, workspace_mib=1024)),
        make_key(options=BuildOptions(max_batch=8, optimization_level=5)),
        make_key(options=BuildOptions(max_batch=8, version_compatible=True)),
        make_key(options=BuildOptions(max_batch=8, input_hw=(320, 320))),
        make_key(recipe={"version": 2, "fp16": None, "uint8_input_scale": "0.00392"}),
        make_key(recipe={"version": 1, "fp16": "onnx-fp16", "uint8_input_scale": "0.00392"}),
        make_key(graph=GraphRecipe().key()),
        make_key(graph=GraphRecipe(topk=300).key()),
        make_key(graph=GraphRecipe(decode="host").key()),
    ]
    digests = {k.digest for k in variants}
    assert base.digest not in digests and len(digests) == len(variants)
    assert len({k.filename for k in [base, *variants]}) == len(variants) + 1


def test_a_key_without_graph_recipe_keeps_its_digest() -> None:
    """Engines cached before graph recipes joined the key (and keys made without one) are still found."""
    assert "graph" not in make_key().fields() and make_key(graph={}).digest == make_key().digest
    assert make_key(graph=GraphRecipe().key()).fields()["graph"]["topk"] == GraphRecipe().topk


def test_engine_key_of_a_prepared_graph(tiny_model: Path) -> None:
    """What the TensorRT backend (and ``trt-detect build``) use: the final graph's bytes, its
    spec's name and scale, the graph recipe; real ``BuildOptions``, a TensorRT version string."""
    from types import SimpleNamespace

    from trt_core.graph import prepare_graph
    from trt_core.spec import ModelSpec
    from trt_core.trt.builder import engine_key

    spec = ModelSpec.from_onnx(tiny_model)
    trt = SimpleNamespace(__version__="10.16.1.11")  # only the version is read for fp32
    keys = [
        engine_key(
            prepare_graph(tiny_model, spec, recipe),
            BuildOptions(max_batch=4),
            trt=trt,
            gpu_name="g",
            compute_capability=(9, 0),
        )
        for recipe in (GraphRecipe(), GraphRecipe(topk=10), GraphRecipe(decode="host"))
    ]
    assert len({k.digest for k in keys}) == 3
    assert keys[0].graph == GraphRecipe().key() and keys[0].model_name == spec.name


def test_key_is_stable_and_ignores_non_engine_settings() -> None:
    assert make_key().digest == make_key().digest
    assert make_key(options=BuildOptions(max_batch=8, timing_cache="t.cache", verbose=True)).digest == make_key().digest
    assert make_key(model_name="other").digest == make_key().digest  # names the file only
    name = make_key().filename
    assert name.startswith("shapes_yolov3_tiny-fp32-b8-") and name.endswith(".engine") and "/" not in name


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRT_DETECT_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TRT_DETECT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "trt-detect" / "engines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "trt-detect" / "engines"
    monkeypatch.setenv("TRT_DETECT_CACHE", str(tmp_path / "env"))
    assert EngineCache().directory == tmp_path / "env"


# -- build / load ----------------------------------------------------------------------
class Builder:
    def __init__(self, data: bytes = ENGINE) -> None:
        self.calls = 0
        self.data = data

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data


def test_miss_then_hit(tmp_path: Path) -> None:
    cache, key, build = EngineCache(tmp_path / "engines"), make_key(), Builder()
    first = cache.get_or_build(key, build, load_ok)
    assert first.built and first.value == ENGINE and first.build_seconds is not None
    assert first.path == tmp_path / "engines" / key.filename and first.path.read_bytes() == ENGINE
    meta = first.path.with_suffix(".json").read_text()
    assert key.onnx_sha256 in meta and '"bytes": ' in meta
    second = cache.get_or_build(key, build, load_ok)
    assert not second.built and second.value == ENGINE and build.calls == 1
    assert [p.name for p in (tmp_path / "engines").iterdir() if p.name.endswith(".tmp")] == []


def test_corrupt_engine_is_removed_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache, key, build = EngineCache(tmp_path), make_key(), Builder()
    cache.path(key).write_bytes(b"\x00truncated")
    result = cache.get_or_build(key, build, load_ok)
    assert result.built and build.calls == 1 and cache.path(key).read_bytes() == ENGINE
    assert "cannot be loaded" in caplog.text and "removing unusable engine" in caplog.text


def test_deserialize_failure_of_a_real_looking_engine(tmp_path: Path) -> None:
    """Bytes that look fine but the runtime rejects (other TensorRT / GPU) are rebuilt too."""
    cache, key = EngineCache(tmp_path), make_key()
    cache.path(key).write_bytes(b"ENGINE:from-another-gpu")
    rejected: list[bytes] = []

    def load(data: bytes) -> bytes:
        if data.endswith(b"another-gpu"):
            rejected.append(data)
            raise ModelLoadError("TensorRT cannot deserialize the engine")
        return data

    result = cache.get_or_build(key, Builder(), load)
    assert result.built and result.value == ENGINE and len(rejected) == 1


def test_other_load_errors_leave_the_cache_alone(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    cache.get_or_build(key, Builder(), load_ok)

    def out_of_memory(data: bytes) -> bytes:
        raise MemoryError("GPU out of memory")

    with pytest.raises(MemoryError):
        cache.get_or_build(key, Builder(), out_of_memory)
    assert cache.path(key).read_bytes() == ENGINE


def test_unloadable_fresh_build_is_an_error_and_not_kept(tmp_path: Path) -> None:
    cache, key = EngineCache(tmp_path), make_key()
    with pytest.raises(EngineBuildError, match="freshly built") as info:
        cache.get_or_build(key, Builder(b"garbage"), load_ok)
    assert info.value.hint
    assert not cache.path(key).exists()


def test_builder_returning_nothing(tmp_path: Path) -> None:
    with pytest.raises(EngineBuildError, match="no data"):
        EngineCache(tmp_path).get_or_build(make_key(), Builder(b""), load_ok)


def test_builder_exception_propagates_and_leaves_nothing(tmp_path: Path) -> None:
    def explode() -> bytes:
        raise EngineBuildError("parse failed", hint="fix the model")

    with pytest.raises(EngineBuildError, match="parse failed"):
        EngineCache(tmp_path).get_or_build(make_key(), explode, load_ok)
    assert [p for p in tmp_path.iterdir() if p.suffix in (".engine", ".tmp")] == []


def test_unwritable_cache_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EngineBuildError, match="cannot create the engine cache") as info:
        EngineCache(blocker / "sub").get_or_build(make_key(), Builder(), load_ok)
    assert "TRT_DETECT_CACHE" in (info.value.hint or "")


def test_lock_timeout(tmp_path: Path) -> None:
    from filelock import FileLock

    cache, key = EngineCache(tmp_path, lock_timeout=0.2), make_key()
    with FileLock(str(cache.path(key)) + ".lock"), pytest.raises(EngineBuildError, match="waited"):
        cache.get_or_build(key, Builder(), load_ok)


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.engine"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in target.parent.iterdir()) == ["b.engine"]


# -- real processes --------------------------------------------------------------------
def _replica(directory: str, key: EngineKey, counter: str, barrier: Any, queue: Any) -> None:
    def slow_build() -> bytes:
        with open(counter, "a") as f:  # O_APPEND: one line per build, across processes
            f.write(f"{os.getpid()}\n")
        time.sleep(0.4)  # long enough that every other replica finds the lock taken
        return ENGINE + str(os.getpid()).encode()  # unique per builder: detects double builds

    barrier.wait()
    result = EngineCache(directory).get_or_build(key, slow_build, load_ok)
    queue.put((os.getpid(), result.built, result.value))


def _run_replicas(tmp_path: Path, n: int) -> list[tuple[int, bool, bytes]]:
    ctx = mp.get_context("fork")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    key = make_key()
    procs = [
        ctx.Process(target=_replica, args=(str(tmp_path / "engines"), key, str(tmp_path / "builds"), barrier, queue))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def test_concurrent_replicas_build_once(tmp_path: Path) -> None:
    results = _run_replicas(tmp_path, 6)
    assert len((tmp_path / "builds").read_text().splitlines()) == 1
    assert sum(built for _, built, _ in results) == 1
    assert len({value for _, _, value in results}) == 1  # identical bytes everywhere


def test_concurrent_replicas_rebuild_a_corrupt_engine_once(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    cache.directory.mkdir()
    cache.path(make_key()).write_bytes(b"corrupt")
    results = _run_replicas(tmp_path, 4)
    assert len((tmp_path / "builds").read_text().splitlines()) == 1
    assert len({value for _, _, value in results}) == 1 and results[0][2].startswith(b"ENGINE:")


def test_key_is_a_dataclass_that_pickles() -> None:
    import pickle

    key = make_key()
    assert pickle.loads(pickle.dumps(key)).digest == key.digest
    assert dataclasses.is_dataclass(key)
