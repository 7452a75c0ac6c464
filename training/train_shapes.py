"""Train the bundled shapes detector (YOLOv3 format, three anchor heads) on fresh synthetic data.

Every batch is new: worker processes draw images from ``training/shapes_dataset.py``
(random training seeds, never the evaluation seed), JPEG-round-trip half of them as the
set's encoding rule says, letterbox them to the input size and ship uint8 batches.  When
the GPU is faster than the workers, the last batch is reused with a random flip /
transpose (the set is symmetric under both), so the accelerator never idles.

The schedule is time-based: ``--minutes`` fixes the wall-clock budget and the cosine
learning-rate decay runs over it.  At the end the EMA weights are exported to ONNX.

    PYTHONUNBUFFERED=1 python training/train_shapes.py --device cuda --minutes 6 --out out/
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

import shapes_dataset as shapes  # noqa: E402
from common import kmeans_anchors, letterbox, letterbox_geometry, wh_iou  # noqa: E402
from model import ShapesYolo  # noqa: E402

TRAIN_NAMESPACE = 0x5EED_7A1E
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]


# -- data --------------------------------------------------------------------------------
def training_sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sample = shapes.generate_image(rng)
    image = sample.image
    if rng.random() < 0.5:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="JPEG", quality=int(rng.integers(85, 96)))
        image = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    canvas, geo = letterbox(image, (size, size), antialias=bool(rng.random() < 0.7))
    return canvas, geo.to_input(sample.boxes), sample.class_ids


class ShapesStream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Endless batches ``(images uint8 (B,3,S,S), targets float32 (M,6): b, cls, x1, y1, x2, y2)``."""

    def __init__(self, size: int, batch: int, seed: int) -> None:
        super().__init__()
        self.size, self.batch, self.seed = size, batch, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        torch.set_num_threads(1)
        for step in range(sys.maxsize):
            rng = np.random.default_rng([TRAIN_NAMESPACE, self.seed, worker, step])
            images = np.empty((self.batch, self.size, self.size, 3), np.uint8)
            rows = []
            for i in range(self.batch):
                images[i], boxes, cls = training_sample(rng, self.size)
                rows.append(np.column_stack([np.full(len(cls), i), cls, boxes]).astype(np.float32))
            yield (
                torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                torch.from_numpy(np.concatenate(rows)),
            )


class Prefetcher:
    """Pulls batches from a DataLoader on a thread; ``get()`` never waits once one batch arrived."""

    def __init__(self, loader: torch.utils.data.DataLoader, depth: int = 6) -> None:  # type: ignore[type-arg]
        self.queue: queue.Queue[tuple[torch.Tensor, torch.Tensor]] = queue.Queue(depth)
        self.last: tuple[torch.Tensor, torch.Tensor] | None = None
        self.fresh = self.reused = 0
        threading.Thread(target=self._run, args=(loader,), daemon=True).start()

    def _run(self, loader: torch.utils.data.DataLoader) -> None:  # type: ignore[type-arg]
        for item in loader:
            self.queue.put(item)

    def get(self, max_reuse_ratio: float) -> tuple[tuple[torch.Tensor, torch.Tensor], bool]:
        can_reuse = self.last is not None and self.reused < max_reuse_ratio * self.fresh
        try:
            item = self.queue.get(block=not can_reuse)
        except queue.Empty:
            self.reused += 1
            assert self.last is not None
            return self.last, True
        self.last = item
        self.fresh += 1
        return item, False


def random_symmetry(
    images: torch.Tensor, targets: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the 8 flips/transposes of the square canvas to a batch and its boxes."""
    size = images.shape[-1]
    code = int(torch.randint(1, 8, (1,), generator=gen))
    t = targets.clone()
    if code & 4:
        images = images.transpose(-1, -2)
        t[:, [2, 3, 4, 5]] = t[:, [3, 2, 5, 4]]
    if code & 1:
        images = images.flip(-1)
        t[:, [2, 4]] = size - t[:, [4, 2]]
    if code & 2:
        images = images.flip(-2)
        t[:, [3, 5]] = size - t[:, [5, 3]]
    return images.contiguous(), t


def fit_anchors(size: int, n: int = 30000, k: int = 9) -> np.ndarray:
    rng = np.random.default_rng([TRAIN_NAMESPACE, 424242])
    wh = []
    for _ in range(n // 4):
        layout = shapes.sample_layout(rng)
        _, _, geo = letterbox_geometry(layout.width, layout.height, (size, size))
        boxes = geo.to_input(layout.boxes())
        wh.append(boxes[:, 2:] - boxes[:, :2])
    all_wh = np.concatenate(wh)
    anchors = kmeans_anchors(all_wh, k)
    best = wh_iou(all_wh, anchors).max(axis=1)
    print(f"anchors (input px): {np.round(anchors, 1).tolist()}  mean best IoU {best.mean():.3f}", flush=True)
    return anchors


# -- loss --------------------------------------------------------------------------------
def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of xyxy boxes, elementwise."""
    iw = (torch.min(a[:, 2], b[:, 2]) - torch.max(a[:, 0], b[:, 0])).clamp(0)
    ih = (torch.min(a[:, 3], b[:, 3]) - torch.max(a[:, 1], b[:, 1])).clamp(0)
    inter = iw * ih
    wa, ha = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1] + eps
    wb, hb = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1] + eps
    iou = inter / (wa * ha + wb * hb - inter + eps)
    cw = torch.max(a[:, 2], b[:, 2]) - torch.min(a[:, 0], b[:, 0])
    ch = torch.max(a[:, 3], b[:, 3]) - torch.min(a[:, 1], b[:, 1])
    c2 = cw**2 + ch**2 + eps
    rho2 = ((a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) ** 2 + (a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class YoloLoss:
    """YOLOv3 loss for the Darknet decode: CIoU box loss on decoded boxes, IoU-valued objectness."""

    def __init__(self, anchors: np.ndarray, size: int, num_classes: int, match_iou: float = 0.25) -> None:
        self.anchors = torch.tensor(anchors, dtype=torch.float32)
        self.size = size
        self.nc = num_classes
        self.match_iou = match_iou
        self.balance = [0.4, 1.0, 4.0]
        self.w_box, self.w_obj, self.w_cls = 0.05, 1.0 * (size / 640) ** 2, 0.5

    def __call__(self, outputs: tuple[torch.Tensor, ...], targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        dev = outputs[0].device
        anchors = self.anchors.to(dev)
        wh = targets[:, 4:6] - targets[:, 2:4]
        centre = (targets[:, 2:4] + targets[:, 4:6]) / 2
        inter = torch.min(wh[:, None], anchors[None]).prod(2)
        iou = inter / (wh.prod(1)[:, None] + anchors.prod(1)[None] - inter)
        positive = (iou > self.match_iou) | (iou == iou.max(1, keepdim=True).values)
        lbox = torch.zeros((), device=dev)
        lobj = torch.zeros((), device=dev)
        lcls = torch.zeros((), device=dev)
        n_pos = 0
        for head, (out, mask) in enumerate(zip(outputs, MASKS)):
            n, _, gh, gw = out.shape
            stride = self.size / gw
            p = out.float().view(n, len(mask), 5 + self.nc, gh, gw).permute(0, 1, 3, 4, 2)
            tobj = torch.zeros(p.shape[:4], device=dev)
            t_idx, a_idx = torch.nonzero(positive[:, mask], as_tuple=True)
            if len(t_idx):
                b = targets[t_idx, 0].long()
                gxy = centre[t_idx] / stride
                gi = gxy[:, 0].long().clamp(0, gw - 1)
                gj = gxy[:, 1].long().clamp(0, gh - 1)
                ps = p[b, a_idx, gj, gi]
                pxy = (ps[:, :2].sigmoid() + torch.stack([gi, gj], 1)) * stride
                pwh = torch.exp(ps[:, 2:4].clamp(max=6)) * anchors[torch.tensor(mask, device=dev)[a_idx]]
                pbox = torch.cat([pxy - pwh / 2, pxy + pwh / 2], 1)
                score = ciou(pbox, targets[t_idx, 2:6])
                lbox = lbox + (1 - score).mean()
                order = score.detach().argsort()
                tobj[b[order], a_idx[order], gj[order], gi[order]] = score.detach().clamp(0)[order]
                onehot = F.one_hot(targets[t_idx, 1].long(), self.nc).float()
                lcls = lcls + F.binary_cross_entropy_with_logits(ps[:, 5:], onehot)
                n_pos += len(t_idx)
            lobj = lobj + F.binary_cross_entropy_with_logits(p[..., 4], tobj) * self.balance[head]
        loss = self.w_box * lbox + self.w_obj * lobj + self.w_cls * lcls
        bs = outputs[0].shape[0]
        stats = {"box": lbox.detach() / 3, "obj": lobj.detach(), "cls": lcls.detach() / 3, "pos": n_pos / bs}
        return loss * bs, stats


# -- training ----------------------------------------------------------------------------
class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.9995, tau: float = 600) -> None:
        self.model = deepcopy(model).eval()
        self.decay, self.tau, self.updates = decay, tau, 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim == 4 and name.endswith("weight") else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(args: argparse.Namespace) -> None:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "train.log"

    def say(msg: str) -> None:
        print(msg, flush=True)
        with open(log_path, "a") as log:
            log.write(msg + "\n")

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    anchors = fit_anchors(args.size)
    say(f"config {json.dumps(vars(args))} anchors {np.round(anchors, 2).tolist()}")

    model = ShapesYolo(num_classes=len(shapes.CLASS_NAMES), width=args.width)
    model.init_biases(args.size)
    if args.resume:
        state = torch.load(args.resume, map_location="cpu")
        model.load_state_dict(state["model"])
        anchors = np.array(state["anchors"])
        say(f"resumed from {args.resume}")
    model.to(device).to(memory_format=torch.channels_last)
    ema = EMA(model)
    loss_fn = YoloLoss(anchors, args.size, len(shapes.CLASS_NAMES))
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.999))

    stream = ShapesStream(args.size, args.batch, args.seed)
    loader = torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=2 if args.workers else None,
        persistent_workers=bool(args.workers),
    )
    feed = Prefetcher(loader)
    gen = torch.Generator().manual_seed(args.seed)
    amp = device.type == "cuda"
    budget = args.minutes * 60
    start = time.time()
    step = 0
    totals: dict[str, Any] = {}
    while True:
        elapsed = time.time() - start
        if elapsed >= budget or (args.steps and step >= args.steps):
            break
        frac = elapsed / budget if not args.steps else step / args.steps
        warm = min(1.0, (step + 1) / args.warmup)
        lr = args.lr * warm * (args.final_lr + (1 - args.final_lr) * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        (images, targets), reused = feed.get(args.max_reuse)
        if reused:
            images, targets = random_symmetry(images, targets, gen)
        x = images.to(device, non_blocking=True).to(memory_format=torch.channels_last).float().div_(255)
        t = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outputs = model(x)
        loss, stats = loss_fn(outputs, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        step += 1
        for k, v in stats.items():
            totals[k] = totals.get(k, 0.0) + v
        if step % args.log_every == 0:
            avg = {k: float(v) / args.log_every for k, v in totals.items()}
            totals = {}
            say(
                f"step {step} t {elapsed:.0f}s lr {lr:.2e} box {avg['box']:.4f} obj {avg['obj']:.4f} "
                f"cls {avg['cls']:.4f} pos/img {avg['pos']:.1f} fresh {feed.fresh} reused {feed.reused}"
            )
    say(f"done: {step} steps in {time.time() - start:.0f}s, {feed.fresh} fresh batches, {feed.reused} reused")
    ema_model = ema.model.float().cpu()
    ckpt = out_dir / "shapes_yolo.pt"
    torch.save({"model": ema_model.state_dict(), "anchors": anchors.tolist(), "args": vars(args)}, ckpt)
    try:
        from export_onnx import export

        onnx_path = export(ema_model, anchors, args.size, out_dir / "shapes-yolov3-tiny.onnx")
        say(f"exported {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB)")
    except Exception as exc:
        say(f"export failed: {exc!r} (checkpoint kept: {ckpt})")
    finally:
        os._exit(0)  # the data workers need no orderly shutdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/train")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--final-lr", type=float, default=0.02, help="final lr as a fraction of --lr")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--max-reuse", type=float, default=3.0, help="max reused/fresh batch ratio")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--resume", default="")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
