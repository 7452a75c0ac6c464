"""How many replicas of each stage, with how many CPUs: derived from the cluster.

A newcomer who runs ``serve run serve_config.yaml`` on a 16-core GPU node gets an app that
fills it, and the same file still fits a 2-core laptop.  The rule: every Detector replica
first gets its GPU and ``detector_cpus``; one CPU stays free for Ray's own processes (GCS,
raylet, controller, HAProxy); the remaining CPUs go to the CPU stages in the proportions of
their measured cost per image (Preprocess decodes and resizes, Ingress parses HTTP and JSON,
Postprocess runs NMS).  On small machines every CPU stage gets one fractional replica.

Explicit replica counts in the app's ``args`` win; :func:`shortfalls` names what a plan
lacks, and the builder warns with those numbers at deploy time rather than leaving a replica
PENDING unexplained (a Detector that waits behind CPU stages for a CPU it will never get is
an outage).  It is a warning, not an error: an autoscaling cluster (KubeRay) adds nodes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from deployments.config import AppArgs

RESERVED_CPUS = 1.0  # GCS, raylet, Serve controller, HAProxy / proxy
CPU_STAGES = ("Ingress", "Preprocess", "Postprocess")
# Measured on an H200 node at full load (benchmarks/README.md): each Preprocess replica ran
# at ~100% of a CPU, each Ingress and Postprocess replica at 35-45%.
SHARES = {"Preprocess": 0.70, "Ingress": 0.15, "Postprocess": 0.15}
MIN_STAGE_CPUS = 0.1


@dataclass(frozen=True)
class StagePlan:
    replicas: int
    num_cpus: float
    num_gpus: float = 0.0


@dataclass(frozen=True)
class Plan:
    stages: dict[str, StagePlan]
    use_gpu: bool

    @property
    def cpus(self) -> float:
        return sum(s.replicas * s.num_cpus for s in self.stages.values())

    def describe(self) -> str:
        return ", ".join(
            f"{name} {s.replicas}x{s.num_cpus:g} CPU" + (f" {s.num_gpus:g} GPU" if s.num_gpus else "")
            for name, s in self.stages.items()
        )


def plan_capacity(args: AppArgs, cluster_cpus: float, cluster_gpus: float) -> Plan:
    """Replicas and CPUs per stage for a cluster of ``cluster_cpus`` CPUs and ``cluster_gpus`` GPUs."""
    use_gpu = args.device == "gpu" or (args.device == "auto" and cluster_gpus >= 1)
    detectors = args.detector_replicas or (max(1, int(cluster_gpus)) if use_gpu else 1)
    # more replicas than GPUs share them (each replica has its own event loop, batches and streams)
    gpu_share = min(1.0, cluster_gpus / detectors) if use_gpu and cluster_gpus >= 1 else float(use_gpu)
    stages = {"Detector": StagePlan(detectors, args.detector_cpus, gpu_share)}
    free = cluster_cpus - detectors * args.detector_cpus - RESERVED_CPUS
    explicit = {
        "Ingress": args.ingress_replicas,
        "Preprocess": args.preprocess_replicas,
        "Postprocess": args.postprocess_replicas,
    }
    if free >= 3 * 1.0:  # a real node: one CPU per replica, replicas in proportion to cost
        cpus = args.stage_cpus or 1.0
        for name in CPU_STAGES:
            derived = max(1, math.floor(free * SHARES[name] / cpus))
            stages[name] = StagePlan(explicit[name] or derived, cpus)
    else:  # a laptop / CI box: one small replica each
        cpus = args.stage_cpus or max(MIN_STAGE_CPUS, round(max(free, 0.0) / len(CPU_STAGES), 2))
        for name in CPU_STAGES:
            stages[name] = StagePlan(explicit[name] or 1, cpus)
    return Plan(stages, use_gpu)


def node_cpus() -> int:
    """The CPUs Ray counts on the calling replica's node: a container's CPU limit, where
    ``os.cpu_count()`` would give the host's."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    for info in ray.nodes():
        if info["NodeID"] == node:
            return max(1, int(info["Resources"].get("CPU", 1)))
    return os.cpu_count() or 1


def shortfalls(plan: Plan, cluster_cpus: float, cluster_gpus: float) -> list[str]:
    """What the cluster lacks to place ``plan`` now (empty when it fits), numbers named."""
    found = []
    detector = plan.stages["Detector"]
    if plan.use_gpu and detector.replicas * detector.num_gpus > cluster_gpus:
        found.append(
            f"{detector.replicas} Detector replicas need {detector.replicas * detector.num_gpus:g} GPUs; "
            f"the cluster has {cluster_gpus:g}"
        )
    if plan.cpus > cluster_cpus:
        found.append(f"the app needs {plan.cpus:g} CPUs ({plan.describe()}); the cluster has {cluster_cpus:g}")
    return found
