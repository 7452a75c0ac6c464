"""A small Darknet-style YOLOv3 detector with three anchor heads (strides 32, 16, 8).

Conv-BN-LeakyReLU(0.1) blocks, strided 3x3 convolutions for downsampling, one residual
block per stage and a YOLOv3 top-down neck.  Each head is a 1x1 convolution that emits
raw logits ``(N, A * (5 + C), H, W)``, laid out per anchor as ``tx, ty, tw, th, obj,
cls_0 .. cls_{C-1}`` -- exactly what NVIDIA's Darknet YOLOv3 ONNX sample emits.
Heads are returned coarse-to-fine (stride 32, 16, 8), the order the masks are listed in.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, momentum=0.03, eps=1e-3)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = ConvBN(c, c // 2, 1)
        self.b = ConvBN(c // 2, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


def stage(c_in: int, c_out: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(ConvBN(c_in, c_out, 3, 2), *[Residual(c_out) for _ in range(blocks)])


class ShapesYolo(nn.Module):
    """Three-head YOLOv3-format detector; ``widths`` scales every stage."""

    strides = (32, 16, 8)

    def __init__(self, num_classes: int = 3, anchors_per_head: int = 3, width: int = 16) -> None:
        super().__init__()
        w = width
        self.num_classes = num_classes
        self.na = anchors_per_head
        no = anchors_per_head * (5 + num_classes)
        self.stem = nn.Sequential(ConvBN(3, w, 3, 2), ConvBN(w, 2 * w, 3, 2), Residual(2 * w))
        self.s8 = stage(2 * w, 4 * w, 2)
        self.s16 = stage(4 * w, 8 * w, 2)
        self.s32 = stage(8 * w, 16 * w, 2)
        self.neck32 = nn.Sequential(ConvBN(16 * w, 8 * w, 1), ConvBN(8 * w, 16 * w, 3), ConvBN(16 * w, 8 * w, 1))
        self.out32 = nn.Sequential(ConvBN(8 * w, 16 * w, 3), nn.Conv2d(16 * w, no, 1))
        self.lat32 = ConvBN(8 * w, 4 * w, 1)
        self.neck16 = nn.Sequential(ConvBN(12 * w, 4 * w, 1), ConvBN(4 * w, 8 * w, 3), ConvBN(8 * w, 4 * w, 1))
        self.out16 = nn.Sequential(ConvBN(4 * w, 8 * w, 3), nn.Conv2d(8 * w, no, 1))
        self.lat16 = ConvBN(4 * w, 2 * w, 1)
        self.neck8 = nn.Sequential(ConvBN(6 * w, 2 * w, 1), ConvBN(2 * w, 4 * w, 3), ConvBN(4 * w, 2 * w, 1))
        self.out8 = nn.Sequential(ConvBN(2 * w, 4 * w, 3), nn.Conv2d(4 * w, no, 1))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def heads(self) -> tuple[nn.Conv2d, ...]:
        return tuple(seq[-1] for seq in (self.out32, self.out16, self.out8))  # type: ignore[misc]

    def init_biases(self, input_size: int) -> None:
        """YOLOv5-style prior: few objects per image, balanced classes."""
        for conv, stride in zip(self.heads(), self.strides):
            b = conv.bias.data.view(self.na, -1)  # type: ignore[union-attr]
            b[:, 4] = math.log(8 / (input_size / stride) ** 2)
            b[:, 5:] = math.log(0.6 / (self.num_classes - 0.99))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p8 = self.s8(self.stem(x))
        p16 = self.s16(p8)
        p32 = self.s32(p16)
        n32 = self.neck32(p32)
        n16 = self.neck16(torch.cat([self.up(self.lat32(n32)), p16], 1))
        n8 = self.neck8(torch.cat([self.up(self.lat16(n16)), p8], 1))
        return self.out32(n32), self.out16(n16), self.out8(n8)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into its convolution (in place; for export)."""
    for module in model.modules():
        if isinstance(module, ConvBN) and isinstance(module.bn, nn.BatchNorm2d):
            conv, bn = module.conv, module.bn
            fused = nn.Conv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True
            ).to(conv.weight.device)
            std = torch.sqrt(bn.running_var + bn.eps)
            scale = bn.weight / std
            fused.weight.data = conv.weight.data * scale.view(-1, 1, 1, 1)
            fused.bias.data = bn.bias.data - bn.running_mean * scale
            module.conv = fused
            module.bn = nn.Identity()  # type: ignore[assignment]
    return model
