"""One real Ray cluster and one Serve app for the whole module set, deployed from
``serve_config.yaml`` exactly as ``serve run serve_config.yaml`` does."""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_config(port: int, **args: Any) -> dict[str, Any]:
    """``serve_config.yaml`` bound to 127.0.0.1:``port``; capacity derived from the test cluster."""
    config = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    config["grpc_options"] = {**config.get("grpc_options", {}), "port": free_port()}
    config["proxy_location"] = "HeadOnly"
    app = config["applications"][0]
    app["args"].update(args)
    return config


def deploy(config: dict[str, Any], timeout_s: float = 120.0) -> None:
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(copy.deepcopy(config))
    client = serve_api.serve_start(
        http_options=config["http_options"],
        grpc_options=config.get("grpc_options"),
        proxy_location=schema.proxy_location,
    )
    client.deploy_apps(schema)
    wait_running(timeout_s)


def wait_running(timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app = serve.status().applications.get("detector")
        if app is not None and app.status == "RUNNING":
            return
        if app is not None and app.status == "DEPLOY_FAILED":
            raise RuntimeError(f"deploy failed: {app.message}")
        time.sleep(0.5)
    raise TimeoutError("the app did not reach RUNNING")


def release_driver() -> None:
    """Detach this process from the Ray/Serve it is attached to, if any (another module, the
    multi-node test, may have detached it already: shutting Serve down then would start a
    fresh local Ray just to find no Serve there)."""
    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    from deployments.config import HIGH_THROUGHPUT_ENV

    for key, value in HIGH_THROUGHPUT_ENV.items():  # the mode the product ships; Ray's processes inherit it
        os.environ.setdefault(key, value)
    for key in ("RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_HAPROXY_STATS_PORT"):  # never a busy fixed port
        os.environ.setdefault(key, str(free_port()))
    ray.init(
        address="local", num_cpus=4, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield
    release_driver()


@pytest.fixture(scope="session")
def served(ray_cluster: None, tiny_model: Path) -> dict[str, Any]:
    port = free_port()
    config = load_config(
        port,
        model=str(tiny_model),
        conf=0.05,
        max_batch_size=8,
        batch_wait_timeout_s=0.02,
        max_body_bytes=2_000_000,
        max_pixels=4_000_000,
    )
    deploy(config)  # thresholds and batching come from args alone: no user_config
    return {"url": f"http://127.0.0.1:{port}", "config": config, "model": tiny_model}


_handle_loop: asyncio.AbstractEventLoop | None = None


def call_handle(method: str, *args: Any, deployment: str | None = None, **kwargs: Any) -> Any:
    """``await handle.<method>.remote(...)`` on one long-lived event loop, as an asyncio user makes it.

    (In Serve's high-throughput mode a handle's router runs on the caller's event loop, so a
    synchronous ``.result()`` outside any loop is not available to callers.)
    """
    global _handle_loop
    if _handle_loop is None:
        _handle_loop = asyncio.new_event_loop()
        threading.Thread(target=_handle_loop.run_forever, daemon=True, name="handle-loop").start()

    async def run() -> Any:
        if deployment is None:
            handle = serve.get_app_handle("detector")
        else:
            handle = serve.get_deployment_handle(deployment, app_name="detector")
        return await getattr(handle, method).remote(*args, **kwargs)

    return asyncio.run_coroutine_threadsafe(run(), _handle_loop).result(timeout=60)


def with_deployment(config: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    """A copy of ``config`` whose app sets ``fields`` on deployment ``name`` (a ``deployments:`` entry)."""
    config = copy.deepcopy(config)
    deployments = config["applications"][0].setdefault("deployments", [])
    entry = next((d for d in deployments if d["name"] == name), None)
    if entry is None:
        entry = {"name": name}
        deployments.append(entry)
    entry.update(fields)
    return config
