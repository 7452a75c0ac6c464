"""``trt_core.client`` against a real HTTP server: keep-alive, multipart, Retry-After, threads."""

from __future__ import annotations

import email.message
import email.parser
import time

import pytest

from tests.threads import run_on_threads
from tests.tools.fake_server import Script
from trt_core.client import Client, ServerError, encode_multipart, normalise_url, retry_after_s


def test_urls() -> None:
    assert normalise_url("localhost:8000") == "http://localhost:8000"
    assert normalise_url("https://h/prefix/") == "https://h/prefix"
    for bad in ("ftp://h", "http://", "h:port"):
        with pytest.raises(ValueError):
            normalise_url(bad)


def test_one_keep_alive_connection_per_thread(fake_server: tuple[str, Script]) -> None:
    url, script = fake_server
    client = Client(url)
    for _ in range(5):
        assert client.detect(b"abc")["size"] == 3
    assert client.model()["classes"] == ["a", "b"]
    assert len(set(script.ports)) == 1  # six requests, one connection

    def work(_: int) -> None:
        for _ in range(5):
            client.detect(b"x")

    run_on_threads(work, 4, timeout_s=30)
    assert len(set(script.ports)) <= 5  # the first connection + one per thread
    client.close()


def test_a_connection_the_server_dropped_is_reopened(fake_server: tuple[str, Script]) -> None:
    url, script = fake_server
    script.drop_after_each = True  # closes without `Connection: close`: the client's socket goes stale
    client = Client(url, retries=0)
    for _ in range(3):
        client.detect(b"abc")
    assert len(set(script.ports)) == 3


def test_multipart_carries_every_image_in_order(fake_server: tuple[str, Script]) -> None:
    body, content_type = encode_multipart([b"first", b"\r\n--tricky--\r\n", b""])
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = [p for p in message.get_payload() if isinstance(p, email.message.Message)]
    assert [p.get_payload(decode=True) for p in parts] == [b"first", b"\r\n--tricky--\r\n", b""]
    assert all(p.get_param("name", header="content-disposition") == "image" for p in parts)

    url, script = fake_server
    assert [r["size"] for r in Client(url).detect_many([b"a", b"b"])] == [len(script.bodies[-1][1])] * 2
    assert script.bodies[-1][0].startswith("multipart/form-data; boundary=")


def test_503_is_retried_as_retry_after_asks_within_bounds(fake_server: tuple[str, Script]) -> None:
    url, script = fake_server
    script.statuses, script.retry_after = [503, 503], "0.3"
    start = time.perf_counter()
    assert Client(url, retries=2).detect(b"x")["size"] == 1
    assert time.perf_counter() - start >= 0.6  # waited twice as asked
    assert len(script.bodies) == 3

    script.statuses, script.retry_after = [503, 503, 503], "3600"
    start = time.perf_counter()
    with pytest.raises(ServerError) as caught:
        Client(url, retries=2, max_wait_s=0.05).detect(b"x")
    assert caught.value.status == 503 and "scripted 503" in caught.value.message
    assert time.perf_counter() - start < 5  # an hour asked, the cap honoured


def test_errors_carry_status_and_message(fake_server: tuple[str, Script]) -> None:
    url, script = fake_server
    script.statuses = [400]
    with pytest.raises(ServerError) as caught:
        Client(url).detect(b"x")
    assert caught.value.status == 400 and caught.value.message == "server answered 400: scripted 400"
    with pytest.raises(ServerError) as caught:
        Client("127.0.0.1:1").model()
    assert caught.value.status is None and "cannot reach http://127.0.0.1:1" in caught.value.message


def test_retry_after_forms() -> None:
    assert retry_after_s("5") == 5.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now
