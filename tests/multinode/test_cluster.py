"""Scaling across nodes, on one machine: a ``ray.cluster_utils.Cluster`` shaped like the
KubeRay cluster of k8s/rayservice.yaml.

    head      num_cpus=0                      Serve controller + the HTTP proxy (127.0.0.1)
    cpu-a/b   num_cpus=1, cpu_worker=1000     Ingress, Preprocess x2, Postprocess x2
    gpu       num_cpus=1, num_gpus=1          Detector (a logical GPU; ONNX Runtime on CPU)

The app is deployed from serve_config.yaml with the helpers of tests/deployments, with the
placement options the overlay uses in Kubernetes.  Placement is read from Serve's own
replica details and confirmed by each replica's actor reporting its node; then a CPU node
is removed and Serve moves its replicas to the other one while the app keeps answering.

The module owns its Ray: it shuts down whatever Ray/Serve the driver was attached to (the
session cluster of tests/deployments, if those ran first) and shuts its cluster down at the
end, so the tests/deployments fixtures can start theirs afterwards.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from tests.deployments.conftest import (
    call_handle,
    deploy,
    free_port,
    load_config,
    release_driver,
    with_deployment,
)
from tests.deployments.test_http import assert_matches, make_images, png
from trt_core import Detector

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

APP = "detector"
CPU_STAGES = ("Ingress", "Preprocess", "Postprocess")
TARGETS = {"Ingress": 1, "Preprocess": 2, "Detector": 1, "Postprocess": 2}
CONF = 0.05


@dataclass
class Topology:
    cluster: Any  # ray.cluster_utils.Cluster
    url: str
    nodes: dict[str, Any]  # role -> ray._private.node.Node
    ids: dict[str, str] = field(default_factory=dict)  # role -> node id (hex)

    def role(self, node_id: str | None) -> str:
        return next((role for role, nid in self.ids.items() if nid == node_id), f"unknown:{node_id}")


def cluster_config(port: int, model: Path) -> dict[str, Any]:
    """serve_config.yaml with the Kubernetes overlay's placement, sized for 2 CI cores."""
    config = load_config(
        port,
        model=str(model),
        backend="onnxruntime",
        device="cpu",  # no real GPU: the Detector asks for the logical one but runs ONNX Runtime on CPU
        conf=CONF,
        max_batch_size=4,
        batch_wait_timeout_s=0.01,
    )
    for name, replicas in TARGETS.items():
        options = (
            {"num_cpus": 0.1, "num_gpus": 1}
            if name == "Detector"
            else {"num_cpus": 0.1, "resources": {"cpu_worker": 1}}
        )
        config = with_deployment(config, name, num_replicas=replicas, ray_actor_options=options)
    return config


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def topology(tiny_model: Path, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Topology]:
    from ray.cluster_utils import Cluster

    release_driver()
    # HAProxy ports of their own: the session cluster's HAProxy may still be draining on its
    # ports (a soft stop) when this cluster's starts, which then fails "Address already in use"
    for key in ("RAY_SERVE_HAPROXY_METRICS_PORT", "RAY_SERVE_HAPROXY_STATS_PORT"):
        monkeypatch_module.setenv(key, str(free_port()))
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    try:
        nodes = {
            "head": cluster.head_node,
            "cpu-a": cluster.add_node(num_cpus=1, resources={"cpu_worker": 1000}),
            "cpu-b": cluster.add_node(num_cpus=1, resources={"cpu_worker": 1000}),
            "gpu": cluster.add_node(num_cpus=1, num_gpus=1),
        }
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        port = free_port()
        deploy(cluster_config(port, tiny_model), timeout_s=240)
        topo = Topology(cluster, f"http://127.0.0.1:{port}", nodes, {r: n.node_id for r, n in nodes.items()})
        yield topo
    finally:
        release_driver()
        cluster.shutdown()


# -- what Serve says, and what the replicas say -----------------------------------------------
def serve_replicas() -> dict[str, list[Any]]:
    """Deployment name -> its ReplicaDetails (Serve's own view: state, node, actor)."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeInstanceDetails

    client = _get_global_client()
    assert client is not None
    details = ServeInstanceDetails.model_validate(client.get_serve_details())
    app = details.applications[APP]
    return {name: list(deployment.replicas) for name, deployment in app.deployments.items()}


def running_placement() -> dict[str, list[str]]:
    """Deployment name -> node ids of its RUNNING replicas."""
    return {
        name: sorted(r.node_id for r in replicas if r.state == "RUNNING") for name, replicas in serve_replicas().items()
    }


def self_reported_node(actor_name: str) -> str:
    """Ask the replica's actor process itself which node it runs on."""
    actor = ray.get_actor(actor_name, namespace="serve")
    node: str = ray.get(
        actor.__ray_call__.remote(lambda _replica: __import__("ray").get_runtime_context().get_node_id()),
        timeout=60,
    )
    return node


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the controller may be mid-update; ask again
            pass
        time.sleep(0.5)
    try:
        placement: Any = running_placement()
    except Exception as exc:
        placement = exc
    raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}; placement: {placement}")


def settled(allowed_cpu_nodes: set[str], topo: Topology) -> bool:
    placement = running_placement()
    every = all(len(placement.get(name, [])) == count for name, count in TARGETS.items())
    cpu_ok = all(set(placement[name]) <= allowed_cpu_nodes for name in CPU_STAGES)
    return every and cpu_ok and set(placement["Detector"]) == {topo.ids["gpu"]}


# -- requests --------------------------------------------------------------------------------
def detect_batch(url: str, images: list[np.ndarray], workers: int = 4) -> list[requests.Response]:
    def post(rgb: np.ndarray) -> requests.Response:
        return requests.post(url + "/detect", data=png(rgb), timeout=60)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(post, images))


def check_batch(topo: Topology, local: Detector, n: int = 12) -> None:
    images = make_images(n)
    for rgb, response in zip(images, detect_batch(topo.url, images)):
        assert response.status_code == 200, response.text
        assert_matches(response.json(), local.detect(rgb), rgb.shape[1], rgb.shape[0])


@pytest.fixture(scope="module")
def local(tiny_model: Path) -> Detector:
    return Detector.from_onnx(tiny_model, backend="onnxruntime", device="cpu", conf=CONF)


# -- the tests (in order: the last one removes a node) ----------------------------------------
def test_replicas_are_placed_by_resources(topology: Topology) -> None:
    topo = topology
    cpu_nodes = {topo.ids["cpu-a"], topo.ids["cpu-b"]}
    wait_for(lambda: settled(cpu_nodes, topo), 120, "every replica RUNNING")
    placement = running_placement()
    roles = {name: sorted(topo.role(n) for n in nodes) for name, nodes in placement.items()}

    assert roles["Detector"] == ["gpu"], roles  # needs the GPU: only the GPU node has one
    for name in CPU_STAGES:  # need cpu_worker: never the head (no CPUs) nor the GPU node
        assert set(roles[name]) <= {"cpu-a", "cpu-b"}, roles
        assert len(roles[name]) == TARGETS[name], roles
    # Serve spreads replicas of a deployment: the two CPU nodes share the CPU stages.
    assert {role for name in CPU_STAGES for role in roles[name]} == {"cpu-a", "cpu-b"}, roles
    assert all(role != "head" for nodes in roles.values() for role in nodes), roles

    # Serve's view agrees with the replicas' own.
    for name, replicas in serve_replicas().items():
        for replica in replicas:
            if replica.state == "RUNNING":
                assert self_reported_node(replica.actor_name) == replica.node_id, (name, replica.replica_id)


def test_handle_reaches_every_postprocess_replica(topology: Topology) -> None:
    answered = Counter(call_handle("ping", deployment="Postprocess") for _ in range(40))
    running = {r.replica_id for r in serve_replicas()["Postprocess"] if r.state == "RUNNING"}
    assert set(answered) == running and len(running) == 2, (answered, running)


def test_http_batch_across_nodes_matches_in_process_detector(topology: Topology, local: Detector) -> None:
    check_batch(topology, local, n=16)
    result = call_handle("detect", make_images(1)[0])
    assert result["model"] == "tiny-test"


def test_losing_a_cpu_node_moves_its_replicas(topology: Topology, local: Detector) -> None:
    topo = topology
    placement = running_placement()
    # Remove the node that hosts the Ingress (and some of the other CPU replicas).
    (ingress_node,) = placement["Ingress"]
    victim = topo.role(ingress_node)
    survivor = "cpu-b" if victim == "cpu-a" else "cpu-a"
    assert victim in {"cpu-a", "cpu-b"}
    topo.cluster.remove_node(topo.nodes[victim])

    # Serve notices the dead replicas and starts new ones on the CPU node that is left.
    wait_for(lambda: settled({topo.ids[survivor]}, topo), 180, f"the replicas of {victim} to move to {survivor}")
    roles = {name: sorted(topo.role(n) for n in nodes) for name, nodes in running_placement().items()}
    assert all(set(roles[name]) == {survivor} for name in CPU_STAGES), roles
    assert roles["Detector"] == ["gpu"], roles

    # The proxy on the head routes to the new Ingress; answers are still right.
    wait_for(lambda: requests.get(topo.url + "/healthz", timeout=10).status_code == 200, 60, "/healthz")
    check_batch(topo, local, n=12)
