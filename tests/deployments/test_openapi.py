"""The typed OpenAPI: bodies, query parameters and responses declared without touching the
wire, ``/docs`` served from local files, and "Try it out" uploading an image in a real
headless Chromium (skipped where Chromium or Playwright is absent, as in CI)."""

from __future__ import annotations

import json
import os
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import requests

from deployments.ingress import api
from tests.deployments.test_http import make_images, png

pytestmark = pytest.mark.timeout(300)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return api.openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    resolved: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema
    return resolved


@pytest.mark.parametrize("path", ["/detect", "/annotate"])
def test_image_routes_declare_body_and_query(spec: dict[str, Any], path: str) -> None:
    operation = spec["paths"][path]["post"]
    content = operation["requestBody"]["content"]
    assert content["image/*"]["schema"] == {"type": "string", "format": "binary"}
    assert content["application/octet-stream"]["schema"]["format"] == "binary"
    image = content["multipart/form-data"]["schema"]["properties"]["image"]
    assert image["type"] == "array" and image["items"]["format"] == "binary"
    query = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(query) == {"conf", "iou", "max_det", "classes", "agnostic"}
    assert (query["conf"]["minimum"], query["conf"]["maximum"]) == (0, 1)
    assert (query["iou"]["minimum"], query["iou"]["maximum"]) == (0, 1)
    assert query["max_det"]["type"] == "integer" and query["max_det"]["minimum"] == 1
    assert query["classes"]["type"] == "string" and query["agnostic"]["type"] == "boolean"
    for status in ("400", "413", "422", "503"):
        error = resolve(spec, operation["responses"][status]["content"]["application/json"]["schema"])
        assert resolve(spec, error["properties"]["error"])["required"] == ["code", "message"]


def test_response_models(spec: dict[str, Any]) -> None:
    ok = spec["paths"]["/detect"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    single, multi = (resolve(spec, s) for s in ok["anyOf"])
    assert set(single["required"]) == {"model", "image", "detections", "timing_ms", "batch_size"}
    assert single["examples"][0]["detections"][0]["label"] == "person"
    assert resolve(spec, multi["properties"]["results"]["items"]) == single
    annotate = spec["paths"]["/annotate"]["post"]["responses"]["200"]["content"]
    assert set(annotate) == {"image/jpeg", "image/png"}
    for path in ("/healthz", "/model"):
        assert "$ref" in spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


def test_live_spec_docs_and_wire_contract(served: dict[str, Any]) -> None:
    url = served["url"]
    live = requests.get(url + "/openapi.json", timeout=30).json()
    assert live["paths"]["/detect"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "/v2/models/{name}/infer" in live["paths"]
    docs = requests.get(url + "/docs", timeout=30).text
    bundle = requests.get(url + "/docs-assets/swagger-ui-bundle.js", timeout=30)
    if find_spec("fastapi_offline") is None:  # Swagger UI from the CDN
        assert "cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in docs and bundle.status_code == 404
    else:
        assert "/docs-assets/swagger-ui-bundle.js" in docs
        assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert requests.get(url + "/docs-assets/..%2fcore.py", timeout=30).status_code == 404
    # the query string is still ours: one envelope for every bad value
    bad = requests.post(url + "/detect", params={"max_det": "0"}, data=png(make_images()[2]), timeout=60)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
@pytest.mark.parametrize("content_type", ["image/*", "multipart/form-data"])
def test_try_it_out_uploads_images_in_chromium(served: dict[str, Any], tmp_path: Path, content_type: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    pictures = []
    for i in (3, 0):
        pictures.append(tmp_path / f"picture{i}.png")
        pictures[-1].write_bytes(png(make_images()[i]))
    multipart = content_type == "multipart/form-data"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(served["url"] + "/docs")
            page.locator('.opblock-summary-path[data-path="/detect"]').click()
            block = page.locator(".opblock-post", has=page.locator('[data-path="/detect"]'))
            block.locator("button.try-out__btn").click()
            request_body = block.locator(".opblock-section-request-body")
            request_body.locator("select").select_option(content_type)
            if multipart:
                request_body.locator("button.json-schema-form-item-add").click()
            files = request_body.locator("input[type=file]")
            for i, picture in enumerate(pictures if multipart else pictures[:1]):
                files.nth(i).set_input_files(str(picture))
            block.locator("button.execute").click()
            live = block.locator(".live-responses-table")
            live.locator("tbody .response-col_status").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            shot = os.environ.get("TRT_DETECT_DOCS_SCREENSHOT")
            if shot:
                page.screenshot(path=shot.replace(".png", f"-{content_type.split('/')[0]}.png"), full_page=True)
            status = live.locator("tbody .response-col_status").first.inner_text().strip()
            body = json.loads(live.locator(".response-col_description pre").first.inner_text())
        finally:
            browser.close()
    assert status == "200", body
    results = body["results"] if multipart else [body]
    sizes = [(rgb.shape[1], rgb.shape[0]) for rgb in (make_images()[3], make_images()[0])]
    assert [(r["image"]["width"], r["image"]["height"]) for r in results] == (sizes if multipart else sizes[:1])
    assert all(isinstance(r["detections"], list) for r in results)
