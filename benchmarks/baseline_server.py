"""The baseline a team would hand-roll: one FastAPI process, one model, no batching.

    python benchmarks/baseline_server.py --port 8100 [--model M.onnx]

Each request decodes, preprocesses, infers and postprocesses in a worker thread, so it is
an honest single-process server (uvicorn, thread pool), not a strawman.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from trt_core import Detector
from trt_core.errors import TrtDetectError
from trt_core.image import load_rgb
from trt_core.result import result_dict


def make_app(model: str | None, device: str) -> FastAPI:
    detector = Detector.from_onnx(model, device=device)
    app = FastAPI()

    def detect(data: bytes) -> dict[str, object]:
        rgb = load_rgb(data)
        detections = detector.detect(rgb)
        return result_dict(detector.spec.name, rgb.shape[1], rgb.shape[0], detections)

    @app.post("/detect")
    async def http_detect(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await run_in_threadpool(detect, await request.body()))
        except TrtDetectError as exc:
            return JSONResponse({"error": {"code": exc.code, "message": str(exc)}}, status_code=exc.http_status)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--model")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    uvicorn.run(make_app(args.model, args.device), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
