"""YOLOv3-608 in-process, per stage, on the CPU (or with ``--device gpu`` ONNX Runtime's CUDA
provider): NMS after an on-device decode + top-K against the all-host path, in one run.

The model is NVIDIA's YOLOv3-608 (Darknet ``yolov3.cfg``: 80 classes, heads of 255
channels at 19/38/76) with calibrated random weights, made once by
``benchmarks/make_yolov3_onnx.py`` (its batch-norm statistics measured on the sample
images, its objectness bias set for ``--candidates`` boxes per image at ``conf 0.25``).

Variants (same images, same model outputs):

- ``host``: the raw heads (7.7 MB per image) leave the model; the host decodes and runs NMS;
- ``device``: decode + TopK(1000) in the graph (``GraphRecipe(decode="device")``); the host
  runs NMS over those candidates with the request's thresholds — what ``trt-detect`` does;
- ``device+onnx-nms``: the same graph followed by ONNX ``NonMaxSuppression`` (per class,
  IoU 0.45), to measure what suppressing inside the graph costs the runtime (ONNX Runtime's
  CPU provider; with ``--device gpu`` its CUDA provider too) — its selected indices are not
  turned into detections;
- ``*-old-nms``: the postprocess with the greedy loop NMS this project had before.

Preprocess and inference are the Detector's own stage timings (medians over the images);
postprocess is the median of repeated calls on the same outputs, on one core.

    python benchmarks/cpu_postprocess.py --out benchmarks/results/cpu/postprocess.txt
    python benchmarks/cpu_postprocess.py --device gpu --out postprocess_gpu.txt   # a GPU machine
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from cpu_nms import greedy_loop, ms  # noqa: E402

from trt_core import postprocess as postprocess_module  # noqa: E402
from trt_core.detector import Detector  # noqa: E402
from trt_core.graph import GraphRecipe  # noqa: E402
from trt_core.params import DetectParams  # noqa: E402
from trt_core.spec import ModelSpec  # noqa: E402

SAMPLES = REPO / "models" / "shapes-yolov3-tiny" / "samples"
CONFS = (0.1, 0.25, 0.6)


def onnx_nms_model(k: int, classes: int, iou: float, score: float) -> bytes:
    """``(1, K, 6)`` candidates -> ONNX ``NonMaxSuppression`` per class (best class only)."""
    from onnx import TensorProto, helper, numpy_helper

    consts = {
        "boxes_s": np.array([0]), "boxes_e": np.array([4]), "score_s": np.array([4]), "score_e": np.array([5]),
        "label_s": np.array([5]), "label_e": np.array([6]), "axis": np.array([2]),
        "classes": np.arange(classes, dtype=np.float32), "max": np.array([300]),
        "iou": np.array([iou], np.float32), "score": np.array([score], np.float32),
    }  # fmt: skip
    node = helper.make_node
    nodes = [
        node("Slice", ["candidates", "boxes_s", "boxes_e", "axis"], ["b"]),
        node("Slice", ["candidates", "score_s", "score_e", "axis"], ["s"]),
        node("Slice", ["candidates", "label_s", "label_e", "axis"], ["l"]),
        node("Equal", ["l", "classes"], ["onehot"]),  # (1, K, C): only the best class scores
        node("Cast", ["onehot"], ["onehot_f"], to=TensorProto.FLOAT),
        node("Mul", ["onehot_f", "s"], ["class_scores"]),
        node("Transpose", ["class_scores"], ["scores"], perm=[0, 2, 1]),
        node("NonMaxSuppression", ["b", "scores", "max", "iou", "score"], ["selected"]),
    ]
    graph = helper.make_graph(
        nodes,
        "nms",
        [helper.make_tensor_value_info("candidates", TensorProto.FLOAT, [1, k, 6])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])],
        [numpy_helper.from_array(v, name) for name, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return bytes(model.SerializeToString())


def median_ms(fn: Callable[[], object], budget_s: float = 1.0) -> float:
    return ms(fn, budget_s, min_runs=5, max_runs=500)


def run_images(det: Detector, images: list[bytes]) -> dict[str, Any]:
    """The Detector's preprocess and inference stages (medians; inference: the best of two
    runs an image, the machine being shared), and each image's outputs."""
    pre, inf, outputs = [], [], []
    for data in images:
        det.backend.infer(det.preprocess(data).tensor[None])
        t0 = time.perf_counter()
        prepared = det.preprocess(data)
        t1 = time.perf_counter()
        out = [o[0] for o in det.backend.infer(prepared.tensor[None])]
        inf.append((time.perf_counter() - t1) * 1e3)
        t2 = time.perf_counter()
        det.backend.infer(prepared.tensor[None])
        inf[-1] = min(inf[-1], (time.perf_counter() - t2) * 1e3)
        pre.append((t1 - t0) * 1e3)
        outputs.append((out, prepared.geometry))
    return {"pre": float(np.median(pre)), "inf": float(np.median(inf)), "outputs": outputs}


def matching(found: Any, host: Any) -> int:
    """How many of ``host``'s detections ``found`` has too (same class, box within 0.05 px)."""
    if len(found) == 0 or len(host) == 0:
        return 0
    close = np.abs(host.xyxy[:, None, :] - found.xyxy[None, :, :]).max(axis=2) <= 0.05
    close &= host.class_ids[:, None] == found.class_ids[None, :]
    return int(close.any(axis=1).sum())


def post_ms(spec: ModelSpec, outputs: list[Any], params: DetectParams) -> float:
    """Median postprocess ms over the images (each timed repeatedly)."""
    return float(
        np.median([median_ms(partial(postprocess_module.postprocess, o, spec, g, params)) for o, g in outputs])
    )


def old_nms(xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_keep: int | None = None) -> Any:
    """The previous batched NMS: class offsets, then the greedy loop."""
    span = float(np.max(xyxy)) - float(min(np.min(xyxy), 0.0)) + 1.0 if len(xyxy) else 1.0
    return greedy_loop(xyxy + (classes.astype(np.float64) * span)[:, None], scores, iou)[:max_keep]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "out" / "yolov3-608.onnx")
    parser.add_argument("--candidates", type=int, default=800, help="boxes per image passing conf 0.25")
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where the model runs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import os

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # postprocess: one core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png"))[: args.images]
    if not args.model.is_file():
        import make_yolov3_onnx

        make_yolov3_onnx.main(["-o", str(args.model), "--candidates", str(args.candidates), "--no-check"])
    images = [p.read_bytes() for p in samples]
    lines = [
        f"$ python {' '.join(shlex.quote(a) for a in sys.argv)}",
        f"YOLOv3-608 ({args.model.name}: calibrated random weights), ONNX Runtime "
        f"{'CUDA' if args.device == 'gpu' else 'CPU'}, {len(images)} images "
        f"({', '.join(p.name for p in samples)}); medians, ms per image; per-class NMS "
        "at IoU 0.45, max_det 300; 'same as host': the host path's detections (all images) that the device path "
        "also finds (same class, box within 0.05 px)",
        "",
    ]
    header = (
        f"{'variant':<16} {'conf':>4} {'dets':>5} {'preprocess':>10} {'inference':>9} {'postprocess':>11}  same as host"
    )
    lines.append(header)
    print(header, flush=True)
    results: dict[tuple[str, float], float] = {}
    spec = ModelSpec.from_onnx(args.model)
    runs: dict[str, dict[str, Any]] = {}
    specs: dict[str, ModelSpec] = {}
    for variant, recipe in (("host", GraphRecipe(decode="host")), ("device", GraphRecipe(decode="device"))):
        with Detector.from_onnx(args.model, backend="onnxruntime", device=args.device, recipe=recipe) as det:
            runs[variant] = run_images(det, images)
            specs[variant] = det.spec
    for conf in CONFS:
        params = DetectParams(conf=conf, iou=0.45)
        found = {
            v: [postprocess_module.postprocess(o, specs[v], g, params) for o, g in runs[v]["outputs"]] for v in runs
        }
        for variant, r in runs.items():
            post = post_ms(specs[variant], r["outputs"], params)
            original = postprocess_module.batched_nms
            postprocess_module.batched_nms = old_nms  # type: ignore[assignment]
            try:
                old = post_ms(specs[variant], r["outputs"], params)
            finally:
                postprocess_module.batched_nms = original
            results[(variant, conf)] = post
            matched = sum(matching(a, b) for a, b in zip(found[variant], found["host"]))
            total = sum(len(b) for b in found["host"])
            dets = int(np.median([len(d) for d in found[variant]]))
            for name, t_ms in ((variant, post), (f"{variant}-old-nms", old)):
                stages = f"{r['pre']:>10.1f} {r['inf']:>9.1f} {t_ms:>11.2f}"
                line = f"{name:<16} {conf:>4} {dets:>5} {stages}  {matched}/{total}"
                lines.append(line)
                print(line, flush=True)
    device_outputs = runs["device"]["outputs"]
    import onnxruntime as ort

    from trt_core.postprocess import select

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    (cands, _), *_ = device_outputs
    k = cands[0].shape[0]
    feed = {"candidates": cands[0][None]}
    nms_model = onnx_nms_model(k, spec.num_classes, 0.45, 0.25)
    in_graph = []
    for provider in ["CPUExecutionProvider"] + (["CUDAExecutionProvider"] if args.device == "gpu" else []):
        session = ort.InferenceSession(
            nms_model, options, providers=list(dict.fromkeys([provider, "CPUExecutionProvider"]))
        )
        selected = session.run(None, feed)[0]
        graph_ms = median_ms(lambda: session.run(None, feed))  # noqa: B023 (used within the iteration)
        in_graph.append(f"on ONNX Runtime's {session.get_providers()[0]} {graph_ms:.2f} ms ({len(selected)} kept)")
    from trt_core.decoders import decode_candidates

    host_ms = median_ms(lambda: select(decode_candidates(cands, spec, 0.25), DetectParams(conf=0.25, iou=0.45)))
    lines += [
        "",
        f"NMS alone over the device's {k} candidates (per class, IoU 0.45, conf 0.25, one thread): "
        f"ONNX NonMaxSuppression {', '.join(in_graph)}, trt_core's host NMS {host_ms:.2f} ms",
    ]
    h, d = results[("host", 0.25)], results[("device", 0.25)]
    lines.append(
        f"postprocess at conf 0.25: host {h:.2f} ms, device {d:.2f} ms "
        f"({h / d:.1f}x less with decode + top-K on the device)"
    )
    text = "\n".join(lines) + "\n"
    print("\n".join(lines[-2:]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
