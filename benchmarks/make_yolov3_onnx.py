"""NVIDIA's YOLOv3-608 as ONNX, with calibrated random weights, for the GPU benchmarks.

No trained weights can be downloaded here, and plain random weights make a useless
benchmark model: activation scales drift through 75 convolutions and 23 residual sums, and
the heads then pass either nothing or thousands of the 22,743 anchors to NMS. This script writes weights
that behave like a trained detector's as far as the runtime can tell:

1. every convolution is He-initialised (deterministic seed), and most of each 3x3 kernel's
   energy (``--smooth``) is a blur, as in trained networks: with white-noise kernels the
   heads' spread follows the images' pixel noise, and the candidate count varied 30x
   between the sample images;
2. batch-norm statistics are *measured*: a numpy forward pass over the sample images (at
   the model's input size, as the runtime will see them) sets each layer's rolling mean and
   variance to the batch statistics of its convolution, so every normalised activation has
   zero mean and unit variance, as after training;
3. each head's final convolution is rescaled per channel (box offsets std 1, box sizes
   std 0.5, classes std 1) and its objectness bias set so that on the median sample image
   ``--candidates`` anchors pass ``conf 0.25`` (objectness x best class), spread over the
   heads in proportion to their anchors.

The weights are written as a Darknet ``.weights`` file and converted with
``trt_core.darknet.convert`` (what ``trt-detect convert-darknet`` runs), with the
``nvidia-yolov3`` preset's preprocessing in the metadata. Finally the model runs through
ONNX Runtime on the CPU on each sample image, and the candidates that pass ``conf 0.25``
(and the preset's 0.6) are counted with the repo's decoder.

    python benchmarks/make_yolov3_onnx.py -o out/yolov3-608.onnx

On the H200 machine (16 cores) it takes ~17 s (12 s measuring, 2.5 s writing and converting,
2 s counting), 1.8 GB of memory; the sample images then give 3, 90, 165, 106 and 157
candidates at conf 0.25 (0, 21, 45, 60, 29 at 0.6). The random draws are seeded (``--seed``);
the measured statistics can differ in the last bits between BLAS builds.

Needs numpy, onnx and the repo (Pillow to read the sample images; ONNX Runtime only for
the final count).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trt_core.darknet import (  # noqa: E402
    ConvParams,
    DarknetConfig,
    DarknetWeights,
    Header,
    convert,
    infer_shapes,
    load_cfg,
)
from trt_core.darknet.layers import (  # noqa: E402
    Convolutional,
    Dropout,
    Maxpool,
    Route,
    Shortcut,
    Upsample,
    Yolo,
    maxpool_output,
    maxpool_pads,
)
from trt_core.darknet.onnx_export import BN_EPSILON  # noqa: E402
from trt_core.darknet.weights import save_weights  # noqa: E402

CFG = REPO / "tests" / "fixtures" / "darknet" / "yolov3.cfg"
SAMPLES = REPO / "models" / "shapes-yolov3-tiny" / "samples"
CONF = 0.25
#: target standard deviation of a head's output channels: x, y, w, h, objectness, classes
HEAD_STD = (1.0, 1.0, 0.5, 0.5, 1.0, 1.0)

Array = np.ndarray


# -- a minimal Darknet forward pass (float32, NCHW) for measuring statistics -----------------
def conv2d(x: Array, w: Array, stride: int, pad: int, groups: int) -> Array:
    """Cross-correlation like Darknet's (and ONNX's) Conv; ``w`` is (F, C/groups, k, k).

    One matrix product per kernel tap (k*k of them) on a strided view of the input: the
    copies stay in memory order and the products use every core (BLAS)."""
    n, _, h, width = x.shape
    f, cg, k, _ = w.shape
    fg = f // groups
    ho, wo = (h + 2 * pad - k) // stride + 1, (width + 2 * pad - k) // stride + 1
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, f, ho * wo), np.float32)
    tap = np.empty((n, fg, ho * wo), np.float32)
    for g in range(groups):
        for dy in range(k):
            for dx in range(k):
                window = x[:, g * cg : (g + 1) * cg, dy : dy + (ho - 1) * stride + 1 : stride]
                window = window[..., dx : dx + (wo - 1) * stride + 1 : stride].reshape(n, cg, ho * wo)
                np.matmul(w[g * fg : (g + 1) * fg, :, dy, dx], window, out=tap)
                y[:, g * fg : (g + 1) * fg] += tap
    return y.reshape(n, f, ho, wo)


def activate(x: Array, name: str) -> Array:
    if name == "linear":
        return x
    if name == "leaky":
        return np.where(x > 0, x, np.float32(0.1) * x)
    if name == "relu":
        return np.maximum(x, 0)
    if name == "logistic":
        return 1 / (1 + np.exp(-x))
    if name == "mish":
        return x * np.tanh(np.logaddexp(0, x))
    if name == "swish":
        return x / (1 + np.exp(-x))
    raise ValueError(f"activation {name!r} is not supported here")


def maxpool(x: Array, layer: Maxpool) -> Array:
    before, after = maxpool_pads(layer)
    padded = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (layer.size,) * 2, axis=(2, 3))
    out = windows[:, :, :: layer.stride, :: layer.stride].max(axis=(4, 5))
    return out[:, :, : maxpool_output(x.shape[2], layer), : maxpool_output(x.shape[3], layer)]


def he_kernel(rng: np.random.Generator, shape: tuple[int, int, int, int], smooth: float) -> Array:
    """He-initialised weights; a share ``smooth`` of each k x k kernel's energy is a binomial blur
    scaled by one random number per (filter, channel), as trained kernels are mostly smooth."""
    f, c, k, _ = shape
    noise = rng.standard_normal(shape, dtype=np.float32) * np.float32(math.sqrt(2.0 / (c * k * k)))
    if k == 1 or smooth <= 0:
        return noise
    taps = np.array([math.comb(k - 1, i) for i in range(k)], np.float32)
    blur = np.outer(taps, taps) / np.float32(taps.sum() ** 2)
    blur *= np.float32(1.0 / np.linalg.norm(blur))  # unit energy, like one He tap per (f, c)
    scale = rng.standard_normal((f, c, 1, 1), dtype=np.float32) * np.float32(math.sqrt(2.0 / c))
    out = np.float32(math.sqrt(smooth)) * scale * blur + np.float32(math.sqrt(1 - smooth)) * noise
    return out.astype(np.float32)


# -- calibrated weights ------------------------------------------------------------------------
def _head_params(y: Array, w: Array, yolo: Yolo, fraction: float) -> ConvParams:
    """Rescale the head conv's channels and choose the objectness bias from measured outputs."""
    n, _, h, wd = y.shape
    per = 5 + yolo.classes
    mean, std = y.mean(axis=(0, 2, 3)), y.std(axis=(0, 2, 3)) + 1e-6
    target = np.array([*HEAD_STD[:5], *([HEAD_STD[5]] * yolo.classes)] * len(yolo.mask), np.float32)
    gain = target / std
    z = ((y - mean[None, :, None, None]) * gain[None, :, None, None]).reshape(n, len(yolo.mask), per, h, wd)
    best_class = 1 / (1 + np.exp(-z[:, :, 5:].max(axis=2)))  # max of sigmoids = sigmoid of max
    with np.errstate(divide="ignore"):
        p = np.clip(CONF / best_class, 0, 1)
        needed = np.log(p) - np.log1p(-p) - z[:, :, 4]  # anchor passes iff obj bias >= needed
    # per image, the bias that lets `fraction` of its anchors pass; the median image's is used
    obj_bias = float(np.median(np.quantile(needed.reshape(n, -1), fraction, axis=1)))
    bias = -mean * gain
    bias.reshape(len(yolo.mask), per)[:, 4] += obj_bias
    return ConvParams(biases=bias.astype(np.float32), weights=(w * gain[:, None, None, None]).astype(np.float32))


def anchor_count(cfg: DarknetConfig, size: int) -> int:
    shapes = infer_shapes(cfg, (size, size))
    return sum(len(y.mask) * shapes[y.index - 1].h * shapes[y.index - 1].w for y in cfg.yolo_layers)


def calibrated_weights(
    cfg: DarknetConfig, images: Array, fraction: float, *, seed: int = 0, smooth: float = 0.6
) -> DarknetWeights:
    """Weights for ``cfg`` measured on ``images`` (N, 3, H, W floats in 0..1), with ``fraction``
    of the anchors passing conf 0.25; see the module doc."""
    rng = np.random.default_rng(seed)
    heads = {y.index - 1: y for y in cfg.yolo_layers}
    needed_later = {i for layer in cfg.layers if isinstance(layer, Route) for i in layer.layers}
    needed_later |= {i for layer in cfg.layers if isinstance(layer, Shortcut) for i in layer.sources}
    saved: dict[int, Array] = {}
    convs: dict[int, ConvParams] = {}
    x = images.astype(np.float32)
    for layer in cfg.layers:
        if isinstance(layer, Convolutional):
            w = he_kernel(rng, (layer.filters, x.shape[1] // layer.groups, layer.size, layer.size), smooth)
            y = conv2d(x, w, layer.stride, layer.padding, layer.groups)
            if layer.index in heads:
                convs[layer.index] = _head_params(y, w, heads[layer.index], fraction)
                x = y  # a head: nothing reads it
            elif layer.batch_normalize:
                mean, var = y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3))
                ones, zeros = np.ones(layer.filters, np.float32), np.zeros(layer.filters, np.float32)
                convs[layer.index] = ConvParams(zeros, w, ones, mean.astype(np.float32), var.astype(np.float32))
                y -= mean[:, None, None]
                y *= (1 / np.sqrt(var + BN_EPSILON)).astype(np.float32)[:, None, None]
                x = activate(y, layer.activation)
            else:
                convs[layer.index] = ConvParams(np.zeros(layer.filters, np.float32), w)
                x = activate(y, layer.activation)
        elif isinstance(layer, Shortcut):
            x = activate(x + sum(saved[i] for i in layer.sources), layer.activation)
        elif isinstance(layer, Route):
            parts = [saved[i] for i in layer.layers]
            if layer.groups > 1:
                steps = [p.shape[1] // layer.groups for p in parts]
                parts = [p[:, k * layer.group_id : k * (layer.group_id + 1)] for p, k in zip(parts, steps, strict=True)]
            x = np.concatenate(parts, axis=1)
        elif isinstance(layer, Upsample):
            x = np.repeat(np.repeat(x, layer.stride, axis=2), layer.stride, axis=3) * np.float32(layer.scale)
        elif isinstance(layer, Maxpool):
            x = maxpool(x, layer)
        elif not isinstance(layer, Yolo | Dropout):
            raise ValueError(f"layer {layer.index}: {type(layer).__name__} is not supported here")
        if layer.index in needed_later:
            saved[layer.index] = x
    return DarknetWeights(Header(), convs)


# -- images and the final check ----------------------------------------------------------------
def sample_images() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def load_crops(paths: list[Path], size: int, crop: int, seed: int) -> Array:
    """Each image stretched to ``size`` (as the model sees it) and one ``crop``-sized window
    of it: statistics at the model's scale for a fraction of the cost of whole images."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    crops = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        top, left = rng.integers(0, size - crop + 1, size=2) // 32 * 32
        crops.append(image[top : top + crop, left : left + crop])
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def count_candidates(model: Path, images: list[Path], confs: tuple[float, ...]) -> dict[str, dict[float, list[int]]]:
    """Per image and conf, the candidates of each head that pass, the model run by ONNX
    Runtime on the CPU and decoded by the repo's decoder."""
    import onnxruntime as ort

    from trt_core.decoders import decode_yolov3
    from trt_core.preprocess import preprocess
    from trt_core.spec import ModelSpec

    spec = ModelSpec.from_onnx(model)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    counts: dict[str, dict[float, list[int]]] = {}
    for image in images:
        x = preprocess(image, spec).tensor[None].astype(np.float32) * np.float32(spec.input_scale)
        heads = [o[0] for o in session.run(None, {session.get_inputs()[0].name: x})]
        counts[image.name] = {  # one head at a time: the others' objectness far below any threshold
            conf: [
                decode_yolov3(
                    [h if j == k else np.full_like(h, -1e4) for j, h in enumerate(heads)], spec, conf
                ).scores.size
                for k in range(len(heads))
            ]
            for conf in confs
        }
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "out" / "yolov3-608.onnx")
    parser.add_argument("--cfg", type=Path, default=CFG, help="Darknet cfg (default: the repo's yolov3.cfg)")
    parser.add_argument("--size", type=int, default=608, help="input size of the ONNX model")
    parser.add_argument("--candidates", type=float, default=100, help="target candidates per image at conf 0.25")
    parser.add_argument("--smooth", type=float, default=0.6, help="share of each 3x3 kernel that is a blur")
    parser.add_argument("--crop", type=int, default=0, help="measure on a window of each image (0: whole)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=Path, help="keep the Darknet .weights file here")
    parser.add_argument("--preset", default="nvidia-yolov3", help="preset written into the metadata ('' for none)")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime count")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    cfg = load_cfg(args.cfg)
    samples = sample_images()
    anchors = anchor_count(cfg, args.size)
    crop = min(args.crop or args.size, args.size)
    images = load_crops(samples, args.size, crop, args.seed)
    weights = calibrated_weights(cfg, images, min(1.0, args.candidates / anchors), seed=args.seed, smooth=args.smooth)
    made = time.perf_counter()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        weights_path = args.weights or Path(tmp) / f"{args.cfg.stem}.weights"
        save_weights(weights_path, weights, cfg)
        result = convert(
            args.cfg, weights_path, args.output, input_size=(args.size, args.size), preset=args.preset or None,
            name=f"{args.cfg.stem}-{args.size}",
        )  # fmt: skip
    done = time.perf_counter()
    print(f"wrote {result.path} ({result.file_size / 2**20:.0f} MiB, {result.layers} layers, seed {args.seed})")
    print(f"  weights measured on {len(samples)} images ({crop}x{crop}): {made - start:.1f} s; "
          f"written and converted: {done - made:.1f} s")  # fmt: skip
    if not args.no_check:
        print(f"candidates per head passing conf (of {anchors} anchors), ONNX Runtime CPU:")
        for name, by_conf in count_candidates(args.output, samples, (CONF, 0.6)).items():
            print(f"  {name}: " + ", ".join(f"{sum(c)} {c} at {conf}" for conf, c in by_conf.items()))
        print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
