"""Requests in flight together share one call down the stages (``images_per_call``): each
still gets its own answer, and one request's bad image is its own error only."""

from __future__ import annotations

import asyncio
import copy
import threading
from typing import Any

import pytest
import requests

from deployments.messages import DetectedImage, Outcome, forward, unwrap
from tests.deployments.conftest import deploy
from tests.deployments.test_http import assert_matches, make_images, png
from trt_core import Detector
from trt_core.detections import Detections

pytestmark = pytest.mark.timeout(300)


def test_forward_calls_once_with_the_successes_and_keeps_failures_in_place() -> None:
    bad = ValueError("bad image")
    calls: list[tuple[list[int], list[int]]] = []

    async def double(indices: list[int], values: list[int]) -> list[Outcome[int]]:
        calls.append((indices, values))
        return [v * 2 if v != 3 else KeyError("three") for v in values]

    outcomes = asyncio.run(forward([1, bad, 3, 4], double))
    assert calls == [([0, 2, 3], [1, 3, 4])]
    assert outcomes[0] == 2 and outcomes[1] is bad and isinstance(outcomes[2], KeyError) and outcomes[3] == 8
    with pytest.raises(ValueError):
        unwrap(outcomes[1])


def test_forward_makes_no_call_when_every_image_failed() -> None:
    async def never(indices: list[int], values: list[int]) -> list[Outcome[int]]:
        raise AssertionError("called")

    failures: list[Outcome[int]] = [ValueError("a"), KeyError("b")]
    assert asyncio.run(forward(failures, never)) == failures
    assert asyncio.run(forward([], never)) == []


@pytest.fixture(scope="module")
def grouped(served: dict[str, Any]) -> Any:
    """The app with a long grouping window, so that concurrent requests surely share calls."""
    config = copy.deepcopy(served["config"])
    config["applications"][0]["args"].update(images_per_call=8, call_wait_s=0.2)
    deploy(config)
    yield served
    deploy(served["config"])


def test_concurrent_requests_share_calls_and_keep_their_own_answers(grouped: dict[str, Any]) -> None:
    local = Detector.from_onnx(grouped["model"], backend="onnxruntime", device="cpu", conf=0.05)
    images = make_images(6)
    bodies: list[bytes] = [png(rgb) for rgb in images] + [b"not an image", b"\x89PNG\r\n\x1a\n broken"]
    queries: list[dict[str, str]] = [{"max_det": str(1 + i)} for i in range(len(bodies))]
    answers: list[Any] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        start.wait()
        answers[i] = requests.post(grouped["url"] + "/detect", params=queries[i], data=bodies[i], timeout=60)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batch_sizes = set()
    for i, rgb in enumerate(images):
        assert answers[i].status_code == 200, answers[i].text
        body = answers[i].json()
        assert_matches(body, local.detect(rgb, max_det=1 + i), rgb.shape[1], rgb.shape[0])
        batch_sizes.add(body["batch_size"])
    assert max(batch_sizes) > 1  # they met in the Detector's batches
    for response in answers[len(images) :]:
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_image"


def test_a_lone_request_says_it_waited_for_its_call(grouped: dict[str, Any]) -> None:
    body = requests.post(grouped["url"] + "/detect", data=png(make_images(1)[0]), timeout=60).json()
    timing = body["timing_ms"]
    # alone, it waits the whole 200 ms window for others to share its call
    assert 150 <= timing["call_wait"] <= timing["total"]
    # and then the Detector's 20 ms batch window, for other calls to share its batch
    assert 15 <= timing["inference_queue"] < 150


def test_a_wait_is_added_to_a_new_result_and_the_old_one_keeps_its_timing() -> None:
    detected = DetectedImage(Detections.empty(), 4, 3, {"preprocess": 1.0})
    waited = detected.waited("call_wait", 5.0)
    assert waited.timing_ms == {"preprocess": 1.0, "call_wait": 5.0}
    assert detected.timing_ms == {"preprocess": 1.0} and waited.detections is detected.detections
