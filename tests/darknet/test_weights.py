from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from trt_core.darknet import load_weights, parse_cfg, parse_weights
from trt_core.darknet.weights import Header, expected_floats, pack_weights
from trt_core.errors import DarknetError

from .helpers import FEATURES_CFG
from .reference import Reference


@pytest.fixture(scope="module")
def ref() -> Reference:
    return Reference(FEATURES_CFG, seed=3)


@pytest.mark.parametrize(
    ("version", "seen_bytes"),
    [((0, 1, 0), 4), ((0, 2, 0), 8), ((0, 2, 5), 8), ((1, 0, 0), 8), ((0, 0, 7), 4)],
)
def test_header_layouts(ref: Reference, version: tuple[int, int, int], seen_bytes: int) -> None:
    cfg = parse_cfg(FEATURES_CFG)
    data = ref.weights_bytes(*version, seen=123456)
    assert len(data) == 12 + seen_bytes + 4 * expected_floats(cfg)
    weights = parse_weights(data, cfg)
    assert weights.header == Header(*version, seen=123456)
    assert weights.header.size == 12 + seen_bytes
    assert pack_weights(weights, cfg) == data  # the writer is the reader's inverse


def test_arrays_land_in_darknet_order(ref: Reference) -> None:
    """biases, scales, rolling mean, rolling variance, weights (with BN); biases, weights (without)."""
    cfg = parse_cfg(FEATURES_CFG)
    weights = parse_weights(ref.weights_bytes(), cfg)
    assert sorted(weights.convs) == sorted(ref.convs)
    for index, want in ref.convs.items():
        got = weights.convs[index]
        np.testing.assert_array_equal(got.biases, want.biases.astype(np.float32))
        np.testing.assert_array_equal(got.weights, want.weights.astype(np.float32))
        assert got.batch_normalize == (want.bn is not None)
        if want.bn is not None:
            for array, expected in zip((got.scales, got.mean, got.variance), want.bn, strict=True):
                np.testing.assert_array_equal(array, expected.astype(np.float32))
    assert weights.convs[3].weights.shape == (16, 4, 1, 1)  # groups=4


def _message(data: bytes) -> str:
    with pytest.raises(DarknetError) as info:
        parse_weights(data, parse_cfg(FEATURES_CFG), source="bad.weights")
    return str(info.value)


def test_bad_weights(ref: Reference) -> None:
    good = ref.weights_bytes()
    needed = expected_floats(parse_cfg(FEATURES_CFG))
    assert "empty" in _message(b"")
    assert "truncated header" in _message(good[:10])
    assert "truncated header" in _message(good[:16])  # version 0.2 needs a 20-byte header
    message = _message(good[:-8])
    assert "truncated" in message and f"needs {needed} float32" in message and f"holds {needed - 2}" in message
    message = _message(good + b"\0" * 8)
    assert "8 bytes left over" in message and "trained with this cfg" in message
    assert "not a whole number of float32" in _message(good + b"\0")
    assert "not a Darknet weights file" in _message(b"[net]\nwidth=416\n" + good)
    assert "not a Darknet weights file" in _message(struct.pack("<3i", -1, 2, 0) + good[12:])


def test_int32_seen_with_an_int64_file_is_explained(ref: Reference) -> None:
    data = struct.pack("<3iq", 0, 1, 0, 7) + ref.weights_bytes()[20:]  # says 0.1 (int32 seen), holds int64
    assert "'seen' field may be int64" in _message(data)


def test_nan_and_negative_variance_are_rejected(ref: Reference) -> None:
    good = bytearray(ref.weights_bytes())
    bad = good.copy()
    bad[20:24] = struct.pack("<f", float("nan"))  # first bias of layer 0
    assert "layer 0 [convolutional]: weights contain NaN" in _message(bytes(bad))
    bad = good.copy()
    variance_at = 20 + 4 * (8 * 3)  # biases, scales, means of layer 0's 8 filters
    bad[variance_at : variance_at + 4] = struct.pack("<f", -1.0)
    assert "negative batch-norm variance" in _message(bytes(bad))


def test_load_weights_file_errors(tmp_path: Path, ref: Reference) -> None:
    cfg = parse_cfg(FEATURES_CFG)
    with pytest.raises(DarknetError, match="cannot read weights file"):
        load_weights(tmp_path / "missing.weights", cfg)
    path = tmp_path / "empty.weights"
    path.write_bytes(b"")
    with pytest.raises(DarknetError, match=r"empty\.weights: the weights file is empty"):
        load_weights(path, cfg)
    path.write_bytes(ref.weights_bytes())
    assert load_weights(path, cfg).header.seen == 12345
