"""The app builder: ``serve run deployments.app:build_app`` or ``import_path`` in a Serve config.

The model spec is read once here and handed to every deployment, so all stages agree.
"""

from __future__ import annotations

import math
from typing import Any

from ray.serve import Application, Deployment

from deployments.config import AppArgs
from deployments.detector import MAX_CONCURRENT_BATCHES, DetectorDeployment
from deployments.ingress import Ingress
from deployments.postprocess import Postprocess
from deployments.preprocess import Preprocess
from trt_core.models import resolve_model
from trt_core.prepare import prepare_model
from trt_core.presets import resolve
from trt_core.spec import ModelSpec


def cluster_has_gpu() -> bool:
    import ray

    return ray.is_initialized() and ray.cluster_resources().get("GPU", 0) > 0


def detector_placement(args: AppArgs) -> tuple[str, dict[str, Any]]:
    """The device the Detector runs on, and its ``ray_actor_options``."""
    use_gpu = args.device == "gpu" or (args.device == "auto" and cluster_has_gpu())
    options: dict[str, Any] = {"num_cpus": args.detector_cpus}
    if use_gpu:
        options["num_gpus"] = 1
    return ("gpu" if use_gpu else "cpu"), options


def _deployment(decorated: object) -> Deployment:
    """``@serve.deployment`` returns a Deployment, which type checkers see as the class."""
    assert isinstance(decorated, Deployment)
    return decorated


def build_app(args: AppArgs) -> Application:
    if not isinstance(args, AppArgs):
        args = AppArgs.model_validate(args or {})
    model_path = resolve_model(args.model)
    overrides, params = resolve(args.preset, args.spec_overrides, conf=args.conf, iou=args.iou, max_det=args.max_det)
    spec = ModelSpec.from_onnx(model_path, **overrides)
    prepared = prepare_model(model_path, spec, decode_topk=args.decode_topk)
    device, actor_options = detector_placement(args)
    engine_batch = args.engine_max_batch or args.max_batch_size
    queued = args.max_queued_requests
    detector = _deployment(DetectorDeployment).options(
        ray_actor_options=actor_options,
        # room for every batch in flight at the largest size user_config may raise it to
        max_ongoing_requests=2 * engine_batch * MAX_CONCURRENT_BATCHES,
        user_config={"max_batch_size": args.max_batch_size, "batch_wait_timeout_s": args.batch_wait_timeout_s},
        max_queued_requests=queued,
    ).bind(
        str(model_path),
        spec,
        args.backend,
        device,
        engine_batch,
        args.backend_options,
        max(1, math.floor(args.detector_cpus)),
        args.decode_topk,
        args.batch_padding,
    )
    postprocess = _deployment(Postprocess).options(
        user_config={"conf": params.conf, "iou": params.iou, "max_det": params.max_det, "agnostic": params.agnostic},
        max_queued_requests=queued,
    ).bind(prepared.spec, args.max_pixels)
    preprocess = _deployment(Preprocess).options(max_queued_requests=queued).bind(spec, args.max_pixels)
    settings = {"max_body_bytes": args.max_body_bytes, "max_pixels": args.max_pixels, "device": device}
    return _deployment(Ingress).bind(preprocess, detector, postprocess, spec, settings)
