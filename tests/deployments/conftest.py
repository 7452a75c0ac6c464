"""One real Ray cluster and one Serve app for the whole module set, deployed from
``serve_config.yaml`` exactly as ``serve run serve_config.yaml`` does."""

from __future__ import annotations

import copy
import os
import socket
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
    config["proxy_location"] = "HeadOnly"
    app = config["applications"][0]
    app["args"].update(args)
    return config


def deploy(config: dict[str, Any], timeout_s: float = 120.0) -> None:
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(copy.deepcopy(config))
    client = serve_api.serve_start(http_options=config["http_options"], proxy_location=schema.proxy_location)
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


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    from deployments.config import HIGH_THROUGHPUT_ENV

    for key, value in HIGH_THROUGHPUT_ENV.items():  # the mode the product ships; Ray's processes inherit it
        os.environ.setdefault(key, value)
    ray.init(num_cpus=4, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def served(ray_cluster: None, tiny_model: Path) -> dict[str, Any]:
    port = free_port()
    config = load_config(port, model=str(tiny_model), conf=0.05, max_batch_size=8, batch_wait_timeout_s=0.02,
                         max_body_bytes=2_000_000, max_pixels=4_000_000)
    deploy(config)  # thresholds and batching come from args alone: no user_config
    return {"url": f"http://127.0.0.1:{port}", "config": config, "model": tiny_model}
