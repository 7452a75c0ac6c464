"""Hardening probes (issue 12), as an operator would run them, against a real Serve app in the
shipped high-throughput mode (HAProxy in front of the Ingress replicas) on 127.0.0.1.

Stalled uploads, oversize headers, multipart fan-out, pixels per request, deadlines, the
error envelope everywhere, a fast ``/healthz``, and a SIGKILLed replica.
"""

from __future__ import annotations

import copy
import io
import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from tests.deployments.conftest import deploy

pytestmark = pytest.mark.timeout(300)

# What a body must never show a client: Ray internals, addresses, tracebacks, ANSI colours
INTERNALS = re.compile(r"(?i)actor|ray\.|traceback|\x1b\[|\b\d{1,3}(\.\d{1,3}){3}:\d+|node_id|pid=")


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = png(np.random.default_rng(5).integers(0, 256, (64, 80, 3), dtype=np.uint8))


def address(served: dict[str, Any]) -> tuple[str, int]:
    parts = urlsplit(served["url"])
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def raw_request(served: dict[str, Any], head: bytes, body: bytes = b"", timeout_s: float = 30.0) -> tuple[int, bytes]:
    """Send ``head`` (and ``body``) on a fresh socket; the status code and the whole answer."""
    with socket.create_connection(address(served), timeout=timeout_s) as sock:
        sock.sendall(head + body)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match.group(1)) if match else 0), data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    return length is None or len(body) >= int(length.group(1))


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


def assert_envelope(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), error
    assert not INTERNALS.search(response.text), response.text
    return error


def good_requests(served: dict[str, Any], n: int) -> list[int]:
    with ThreadPoolExecutor(4) as pool:
        return list(
            pool.map(lambda _: requests.post(served["url"] + "/detect", data=GOOD, timeout=60).status_code, range(n))
        )


# -- connection hygiene -------------------------------------------------------------------------
def test_stalled_uploads_get_408_and_others_keep_succeeding(served: dict[str, Any]) -> None:
    timeout_s = served["config"]["applications"][0]["args"]["body_timeout_s"]
    head = b"POST /detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
    sockets = [socket.create_connection(address(served), timeout=timeout_s + 20) for _ in range(50)]
    try:
        start = time.monotonic()
        for sock in sockets:
            sock.sendall(head + GOOD[:10])  # 10 bytes of the declared 100,000, then silence
        time.sleep(0.5)
        assert good_requests(served, 8) == [200] * 8  # other clients are served meanwhile
        answers = [read_answer(sock) for sock in sockets]
        elapsed = time.monotonic() - start
    finally:
        for sock in sockets:
            sock.close()
    statuses = [status for status, _ in answers]
    assert statuses == [408] * len(sockets), statuses
    assert elapsed < timeout_s + 10, elapsed
    assert b'"request_timeout"' in body_of(answers[0][1]), answers[0][1]


@pytest.mark.slow
@pytest.mark.skipif(
    int(os.environ.get("RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S", "3600")) > 30,
    reason="HAProxy closes stalled headers after RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S (Ray's default: 3600 s)",
)
def test_stalled_headers_are_closed_by_the_proxy(served: dict[str, Any]) -> None:
    timeout_s = int(os.environ["RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S"])
    start = time.monotonic()
    status, answer = raw_request(served, b"POST /detect HTTP/1.1\r\nHost: x\r\nX-Half: a", timeout_s=timeout_s + 20)
    assert status == 408 and time.monotonic() - start < timeout_s + 10, answer[:200]


def test_oversize_headers_get_a_quick_4xx(served: dict[str, Any]) -> None:
    cases = {
        "one 64 KiB header": b"X-Big: " + b"a" * 65536 + b"\r\n",
        "10,000 headers": b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)),
    }
    for name, headers in cases.items():
        start = time.monotonic()
        status, answer = raw_request(
            served, b"POST /detect HTTP/1.1\r\nHost: x\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(GOOD), GOOD
        )
        assert 400 <= status < 500, (name, answer[:300])
        assert time.monotonic() - start < 10, name
    assert good_requests(served, 2) == [200, 200]


# -- per-request bounds -------------------------------------------------------------------------
def test_multipart_fan_out_beyond_the_limit_gets_413_and_others_keep_succeeding(served: dict[str, Any]) -> None:
    limit = served["config"]["applications"][0]["args"]["max_images_per_request"]
    tiny = png(np.zeros((8, 8, 3), np.uint8))

    def fan_out(n: int) -> requests.Response:
        return requests.post(served["url"] + "/detect", files=[("image", ("x.png", tiny))] * n, timeout=60)

    with ThreadPoolExecutor(2) as pool:
        big = [pool.submit(fan_out, n) for n in (limit + 1, 1000)]
        assert good_requests(served, 6) == [200] * 6
        for future in big:
            error = assert_envelope(future.result(), 413, "payload_too_large")
            assert str(limit) in error["message"]
    assert len(fan_out(limit).json()["results"]) == limit


def test_too_many_pixels_per_request_gets_413(served: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    Image.new("L", (1900, 1900)).save(buffer, format="PNG")  # 3.6 Mpx each, under the per-image limit
    files = [("image", (f"{i}.png", buffer.getvalue())) for i in range(28)]  # ~101 Mpx together
    error = assert_envelope(requests.post(served["url"] + "/detect", files=files, timeout=60), 413, "payload_too_large")
    assert "pixels" in error["message"]


def test_side_limit_is_named_for_a_32769x1_image(served: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    Image.new("L", (32769, 1)).save(buffer, format="PNG")
    response = requests.post(served["url"] + "/detect", data=buffer.getvalue(), timeout=60)
    assert response.status_code in (400, 413), response.text
    assert "side" in response.json()["error"]["message"], response.text


# -- the contract's edges -----------------------------------------------------------------------
def test_404_and_405_in_the_envelope(served: dict[str, Any]) -> None:
    assert_envelope(requests.get(served["url"] + "/no-such-route", timeout=30), 404, "not_found")
    assert_envelope(requests.get(served["url"] + "/detect", timeout=30), 405, "method_not_allowed")


def test_healthz_answers_within_a_second(served: dict[str, Any]) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        times = []
        for _ in range(3):
            start = time.monotonic()
            response = requests.get(served["url"] + path, timeout=30)
            times.append(time.monotonic() - start)
            assert response.status_code == 200 and response.json() == {"status": "ok"}, response.text
        assert min(times) < 1.0, (path, times)


def test_multipart_content_type_is_case_insensitive(served: dict[str, Any]) -> None:
    prepared = requests.Request("POST", served["url"] + "/detect", files=[("image", ("a.png", GOOD))]).prepare()
    content_type = str(prepared.headers["Content-Type"]).replace("multipart/form-data", "Multipart/Form-Data")
    prepared.headers["Content-Type"] = content_type
    with requests.Session() as session:
        response = session.send(prepared, timeout=60)
    assert response.status_code == 200, response.text
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("query", [{"classes": "999"}, {"classes": "0,80"}, {"agnostic": "maybe"}])
def test_classes_beyond_the_model_and_bad_booleans_get_422(served: dict[str, Any], query: dict[str, str]) -> None:
    response = requests.post(served["url"] + "/detect", params=query, data=GOOD, timeout=60)
    assert_envelope(response, 422, "invalid_request")


# -- deadlines and lost replicas ------------------------------------------------------------------
@pytest.mark.slow
def test_deadline_gives_504_and_the_service_serves_on(served: dict[str, Any]) -> None:
    big = io.BytesIO()
    gradient = np.linspace(0, 255, 1990 * 1990 * 3).astype(np.uint8).reshape(1990, 1990, 3)
    Image.fromarray(gradient).save(big, format="JPEG", quality=95)  # ~4 Mpx: decode + resize take > 20 ms
    config = copy.deepcopy(served["config"])
    config["applications"][0]["args"]["request_timeout_s"] = 0.02
    try:
        deploy(config)
        response = requests.post(served["url"] + "/detect", data=big.getvalue(), timeout=60)
        error = assert_envelope(response, 504, "deadline_exceeded")
        assert "0.02 s" in error["message"] and response.headers.get("Retry-After")
    finally:
        deploy(served["config"])
    assert requests.post(served["url"] + "/detect", data=big.getvalue(), timeout=60).status_code == 200


def replica_pid(deployment: str) -> int:
    """The pid of a live replica of ``deployment``: a process of this test's own cluster.

    (The state API, ``ray.util.state.list_actors``, needs the dashboard, which the test cluster
    runs without; the named replica actors are listed by the GCS and answer ``os.getpid``.)
    """
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True) if f"#{deployment}#" in a["name"]]
    assert names, f"no {deployment} replica"
    actor = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
    pid: Any = ray.get(actor.__ray_call__.remote(lambda _: os.getpid()), timeout=30)
    return int(pid)


@pytest.mark.slow
def test_sigkill_of_a_replica_gives_503_envelopes_and_the_app_recovers(served: dict[str, Any]) -> None:
    pid = replica_pid("Preprocess")  # a process of this test's own cluster
    stop = threading.Event()
    answers: list[requests.Response] = []

    def client() -> None:
        while not stop.is_set():
            answers.append(requests.post(served["url"] + "/detect", data=GOOD, timeout=60))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(3.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    # In flight at the kill: 503 when the call fails at once, else Serve retries it on the
    # stage's next replica: 200 if that comes up within the request's deadline, 504 if not;
    # sent after it, while the stage has no replica: the same.  Never a 500, never internals,
    # never no answer.
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 503, 504}, statuses
    for response in answers:
        if response.status_code != 200:
            assert_envelope(response, response.status_code)
            assert response.headers.get("Retry-After"), response.headers
    recovered = None
    while time.monotonic() - killed < 30:
        if requests.post(served["url"] + "/detect", data=GOOD, timeout=30).status_code == 200:
            recovered = time.monotonic() - killed
            break
        time.sleep(0.25)
    assert recovered is not None, "the app did not serve again within 30 s of the kill"
    assert replica_pid("Preprocess") != pid
