"""The app builder: ``serve run deployments.app:build_app`` or ``import_path`` in a Serve config.

The model spec is read once here and handed to every deployment, so all stages agree; the
capacity of each stage is derived from the cluster (``deployments/sizing.py``) unless the
args or the config's ``deployments:`` block set it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ray.serve import Application, Deployment

from deployments.config import AppArgs, IngressSettings
from deployments.detector import MAX_CONCURRENT_BATCHES, InferDeployment
from deployments.ingress import Ingress
from deployments.postprocess import Postprocess
from deployments.preprocess import Preprocess
from deployments.sizing import Plan, plan_capacity, shortfalls
from trt_core.graph import GraphRecipe, prepare_graph, share
from trt_core.models import resolve_model
from trt_core.presets import load_spec

logger = logging.getLogger("ray.serve")


def cluster_resources() -> tuple[float, float]:
    """CPUs and GPUs of the cluster the app is being deployed on (0, 0 outside Ray)."""
    import ray

    if not ray.is_initialized():
        return 0.0, 0.0
    resources = ray.cluster_resources()
    return float(resources.get("CPU", 0)), float(resources.get("GPU", 0))


def capacity(args: AppArgs) -> Plan:
    cpus, gpus = cluster_resources()
    plan = plan_capacity(args, cpus, gpus)
    for problem in shortfalls(plan, cpus, gpus):
        logger.warning("trt-detect capacity: %s; what does not fit stays PENDING until the cluster grows", problem)
    logger.info("trt-detect capacity on %g CPUs, %g GPUs: %s", cpus, gpus, plan.describe())
    return plan


def _deployment(decorated: object) -> Deployment:
    """``@serve.deployment`` returns a Deployment, which type checkers see as the class."""
    assert isinstance(decorated, Deployment)
    return decorated


def build_app(args: AppArgs) -> Application:
    if not isinstance(args, AppArgs):
        args = AppArgs.model_validate(args or {})
    model_path = resolve_model(args.model)
    spec, params = load_spec(
        model_path, args.preset, args.spec_overrides, conf=args.conf, iou=args.iou, max_det=args.max_det
    )
    recipe = GraphRecipe.from_decode_topk(args.decode_topk)
    graph = share(prepare_graph(model_path, spec, recipe), model_path, spec, recipe)  # once; replicas load it
    plan = capacity(args)
    stages = plan.stages
    device = "gpu" if plan.use_gpu else "cpu"
    engine_batch = args.engine_max_batch or args.max_batch_size
    queued = args.max_queued_requests

    def actor_options(name: str, **extra: Any) -> dict[str, Any]:
        return {"num_cpus": stages[name].num_cpus, **extra}

    gpus = {"num_gpus": stages["Detector"].num_gpus} if plan.use_gpu else {}
    detector = (
        _deployment(InferDeployment)
        .options(
            num_replicas=stages["Detector"].replicas,
            ray_actor_options=actor_options("Detector", **gpus),
            # room for every batch in flight at the largest size user_config may raise it to
            max_ongoing_requests=2 * engine_batch * MAX_CONCURRENT_BATCHES,
            user_config={"max_batch_size": args.max_batch_size, "batch_wait_timeout_s": args.batch_wait_timeout_s},
            max_queued_requests=queued,
        )
        .bind(
            graph,
            args.backend,
            device,
            engine_batch,
            args.backend_options,
            max(1, math.floor(args.detector_cpus)),
            args.batch_padding,
        )
    )
    postprocess = (
        _deployment(Postprocess)
        .options(
            num_replicas=stages["Postprocess"].replicas,
            ray_actor_options=actor_options("Postprocess"),
            user_config={
                "conf": params.conf,
                "iou": params.iou,
                "max_det": params.max_det,
                "agnostic": params.agnostic,
            },
            max_queued_requests=queued,
        )
        .bind(graph.spec, stages["Postprocess"].num_cpus)
    )
    preprocess = (
        _deployment(Preprocess)
        .options(
            num_replicas=stages["Preprocess"].replicas,
            ray_actor_options=actor_options("Preprocess"),
            max_queued_requests=queued,
        )
        .bind(
            spec,
            args.max_pixels,
            detector,
            postprocess,
            stages["Preprocess"].num_cpus,
            args.tensor_transport,
            args.decode_threads(plan.use_gpu),
        )
    )
    ingress = _deployment(Ingress).options(
        num_replicas=stages["Ingress"].replicas, ray_actor_options=actor_options("Ingress")
    )
    settings = IngressSettings.from_args(args, device, tensor_bytes=3 * spec.input_hw[0] * spec.input_hw[1])
    return ingress.bind(preprocess, detector, postprocess, spec, settings)
