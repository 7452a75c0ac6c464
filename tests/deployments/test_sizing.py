"""Capacity derived from the cluster: fills a GPU node, fits a laptop, names what is missing."""

from __future__ import annotations

import pytest

from deployments.config import AppArgs
from deployments.sizing import RESERVED_CPUS, Plan, node_cpus, plan_capacity, shortfalls


def replicas(plan: Plan) -> dict[str, int]:
    return {name: stage.replicas for name, stage in plan.stages.items()}


def test_a_16_core_gpu_node_is_filled_and_fits() -> None:
    plan = plan_capacity(AppArgs(), 16, 1)
    assert plan.use_gpu and plan.stages["Detector"].num_gpus == 1
    assert replicas(plan) == {"Detector": 1, "Ingress": 2, "Preprocess": 9, "Postprocess": 2}
    assert all(plan.stages[name].num_cpus == 1 for name in ("Ingress", "Preprocess", "Postprocess"))
    assert 16 - RESERVED_CPUS - 2 <= plan.cpus <= 16 - RESERVED_CPUS
    assert shortfalls(plan, 16, 1) == []


@pytest.mark.parametrize("cpus", [2, 4])
def test_a_small_cpu_machine_gets_one_small_replica_per_stage(cpus: int) -> None:
    plan = plan_capacity(AppArgs(), cpus, 0)
    assert not plan.use_gpu and plan.stages["Detector"].num_gpus == 0
    assert replicas(plan) == {"Detector": 1, "Ingress": 1, "Preprocess": 1, "Postprocess": 1}
    assert plan.cpus <= cpus and shortfalls(plan, cpus, 0) == []


def test_one_detector_per_gpu_and_shared_gpus_when_asked() -> None:
    assert replicas(plan_capacity(AppArgs(), 64, 4))["Detector"] == 4
    shared = plan_capacity(AppArgs(detector_replicas=2), 16, 1)
    assert shared.stages["Detector"].replicas == 2 and shared.stages["Detector"].num_gpus == 0.5
    assert shortfalls(shared, 16, 1) == []


def test_explicit_counts_win_and_what_does_not_fit_is_named() -> None:
    plan = plan_capacity(AppArgs(preprocess_replicas=20, ingress_replicas=1), 16, 1)
    assert replicas(plan)["Preprocess"] == 20 and replicas(plan)["Ingress"] == 1
    (problem,) = shortfalls(plan, 16, 1)
    assert "needs 24 CPUs" in problem and "Preprocess 20x1 CPU" in problem and "has 16" in problem


def test_a_gpu_app_on_a_cluster_without_gpus_is_named() -> None:
    plan = plan_capacity(AppArgs(device="gpu"), 8, 0)
    assert plan.use_gpu
    assert any("Detector replicas need 1 GPUs; the cluster has 0" in p for p in shortfalls(plan, 8, 0))


def test_beside_a_gpu_a_calls_images_decode_on_a_thread_each_unless_set() -> None:
    assert AppArgs().decode_threads(use_gpu=True) == AppArgs().images_per_call == 8
    assert AppArgs(images_per_call=1).decode_threads(use_gpu=True) == 1
    assert AppArgs().decode_threads(use_gpu=False) is None  # one per CPU of the replica
    assert AppArgs(images_per_call=16, preprocess_threads=3).decode_threads(use_gpu=False) == 3


def test_a_replica_sees_the_cpus_ray_gives_its_node_not_the_hosts(ray_cluster: None) -> None:
    """A container's CPU limit, not os.cpu_count(): the session cluster declares 4 CPUs on this box."""
    import ray

    assert ray.get(ray.remote(num_cpus=0)(node_cpus).remote()) == ray.cluster_resources()["CPU"] == 4
