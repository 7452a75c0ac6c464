"""Past ``max_queued_requests`` the service sheds load with 503 + Retry-After, and recovers."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from tests.deployments.conftest import deploy, with_deployment

pytestmark = pytest.mark.timeout(300)


def test_overload_gives_503_with_retry_after(served: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (900, 900, 3), dtype=np.uint8)).save(buffer, "JPEG")
    body = buffer.getvalue()
    config = with_deployment(served["config"], "Preprocess", max_ongoing_requests=1)
    config["applications"][0]["args"]["max_queued_requests"] = 1
    try:
        deploy(config)

        def send(_: int) -> requests.Response:
            return requests.post(served["url"] + "/detect", data=body, timeout=120)

        with ThreadPoolExecutor(24) as pool:
            responses = list(pool.map(send, range(48)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}, statuses
        shed = [r for r in responses if r.status_code == 503]
        assert shed and statuses.count(200) >= 1, statuses
        odd = [(r.headers, r.text) for r in shed if not (r.headers.get("Retry-After") and "overloaded" in r.text)]
        assert not odd and all(r.json()["error"]["code"] == "overloaded" for r in shed), odd[:2]
    finally:
        deploy(served["config"])
    assert requests.post(served["url"] + "/detect", data=body, timeout=120).status_code == 200
