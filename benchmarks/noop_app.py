"""The HTTP ceiling of Ray Serve on this machine: an Ingress that reads the body and answers
fixed JSON, deployed in the same proxy mode and replica count as the real app's Ingress.

    serve run benchmarks.noop_app:app            (or deployed by benchmarks/serve_bench.py)
"""

# No ``from __future__ import annotations``: FastAPI resolves ``request: Request`` at definition time.
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

api = FastAPI()
ANSWER = {"model": "noop", "image": {"width": 0, "height": 0}, "detections": [], "timing_ms": {}}


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=1024)
@serve.ingress(api)
class NoopIngress:
    @api.post("/detect")
    async def detect(self, request: Request) -> Response:
        await request.body()
        return JSONResponse(ANSWER)


app = NoopIngress.bind()
