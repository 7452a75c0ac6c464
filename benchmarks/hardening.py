"""Hardening probe (issue 12): overload shedding and recovery from a SIGKILLed replica, in one run.

    python benchmarks/hardening.py [--clients 256] [--seconds 30] [--stalled 1000]
           [--kill Detector,Preprocess,Postprocess,Ingress] [--kill-clients 16] [--cpus N] [--arg key=value ...]

Deploys ``serve_config.yaml`` as shipped (Serve's high-throughput mode: HAProxy in front of the
Ingress replicas, gRPC between them; capacity derived from the machine) on 127.0.0.1, then:

0. connections: a stalled upload, stalled headers, a 12 KiB and a 64 KiB header, 10,000
   headers, one connection each: the answer's status line, body and time (HAProxy's own answers
   are HTML: Ray writes its config and exposes no error files for them);
1. overload: ``--clients`` closed-loop clients (one aiohttp session, one coroutine each) send a
   sample image back to back for ``--seconds``; prints accepted (200) vs shed (503) vs other,
   the latency percentiles of each, and how many answers took over 10 s and over 60 s;
2. for each stage in ``--kill``: under ``--kill-clients`` clients, first a CPU-stage upscale
   (Preprocess to 2 replicas, redeployed) when the stage is the Detector, then SIGKILL of one
   replica's process (found through the GCS's named actors: only this run's cluster);
   prints the statuses seen from the kill until the first success, the time to recover (first
   200 after the kill) and the requests lost (any answer but 200/503, or none).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import signal
import socket
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deployments.config import HIGH_THROUGHPUT_ENV  # noqa: E402

ANSWER_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Answer:
    sent: float
    done: float
    status: int  # 0: no answer (connection error or client timeout)
    body: bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample() -> bytes:
    folder = REPO / "models" / "shapes-yolov3-tiny" / "samples"
    return next(p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".jpg", ".png"))


def config(port: int, args: dict[str, Any]) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    loaded["http_options"] = {**loaded["http_options"], "host": "127.0.0.1", "port": port}
    loaded["proxy_location"] = "HeadOnly"
    loaded["applications"][0]["args"].update(args)
    return loaded


def deploy(conf: dict[str, Any], timeout_s: float = 300.0) -> None:
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(copy.deepcopy(conf))
    client = serve_api.serve_start(http_options=conf["http_options"], proxy_location=schema.proxy_location)
    client.deploy_apps(schema)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app = serve.status().applications.get("detector")
        if app is not None and app.status == "RUNNING":
            return
        time.sleep(0.5)
    raise TimeoutError("the app did not reach RUNNING")


def replica_pid(deployment: str) -> int:
    """A live replica's pid, through the GCS's named actors (the state API needs the dashboard)."""
    import ray

    names = [a for a in ray.util.list_named_actors(all_namespaces=True) if f"#{deployment}#" in a["name"]]
    if not names:
        raise RuntimeError(f"no {deployment} replica")
    actor = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
    pid: Any = ray.get(actor.__ray_call__.remote(lambda _: os.getpid()), timeout=30)
    return int(pid)


async def closed_loop(url: str, body: bytes, clients: int, seconds: float, answers: list[Answer]) -> None:
    import aiohttp

    stop = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def client() -> None:
            while time.monotonic() < stop:
                sent = time.monotonic()
                try:
                    async with session.post(url + "/detect", data=body) as response:
                        data = await response.read()
                        answers.append(Answer(sent, time.monotonic(), response.status, data))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    answers.append(Answer(sent, time.monotonic(), 0, b""))
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(client() for _ in range(clients)))


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(values):.2f} s"


def overload(url: str, body: bytes, clients: int, seconds: float) -> None:
    answers: list[Answer] = []
    asyncio.run(closed_loop(url, body, clients, seconds, answers))
    took = {status: [a.done - a.sent for a in answers if a.status == status] for status in {a.status for a in answers}}
    every = [a.done - a.sent for a in answers]
    print(f"## overload: {clients} closed-loop clients for {seconds:g} s, {len(answers)} answers")
    print(f"statuses: {dict(sorted(Counter(a.status for a in answers).items()))}  (0 = no answer)")
    for status, values in sorted(took.items()):
        print(f"  {status}: {len(values)} answers, {percentiles(values)}")
    print(f"accepted/s: {len(took.get(200, [])) / seconds:.1f}, shed/s: {len(took.get(503, [])) / seconds:.1f}")
    print(f"answers over 10 s: {sum(t > 10 for t in every)}, over 60 s: {sum(t > 60 for t in every)}")
    print_bodies(answers)


def stalled_uploads(port: int, url: str, body: bytes, stalled: int, clients: int, seconds: float) -> None:
    """``stalled`` uploads that declare 100 KB and send 10 bytes, held open while ``clients``
    good clients send images: do the good ones still succeed?"""
    import socket

    sockets = []
    for _ in range(stalled):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
        sockets.append(s)
    try:
        answers: list[Answer] = []
        asyncio.run(closed_loop(url, body, clients, seconds, answers))
        statuses = dict(sorted(Counter(a.status for a in answers).items()))
        ok = [a.done - a.sent for a in answers if a.status == 200]
        print(f"## {stalled} stalled uploads held open, {clients} good clients for {seconds:g} s")
        print(f"good clients' statuses: {statuses}; 200s: {percentiles(ok)}")
    finally:
        for s in sockets:
            s.close()


def print_bodies(answers: list[Answer]) -> None:
    """One body of each error status (first 160 bytes): is it the envelope, does it leak internals?"""
    for status in sorted({a.status for a in answers} - {200}):
        print(f"  a {status} body: {next(a.body[:160] for a in answers if a.status == status)!r}")


def kill(url: str, body: bytes, stage: str, clients: int) -> None:
    answers: list[Answer] = []
    pid = replica_pid(stage)

    async def run() -> float:
        load = asyncio.ensure_future(closed_loop(url, body, clients, 35.0, answers))
        await asyncio.sleep(3.0)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        await load
        return killed

    killed = asyncio.run(run())
    after = sorted((a for a in answers if a.done >= killed), key=lambda a: a.done)
    first_ok = next((a.done for a in after if a.status == 200 and a.sent > killed), None)
    window = [a for a in after if first_ok is None or a.done <= first_ok]
    lost = [a for a in after if a.status not in (200, 503)]
    recover = f"{first_ok - killed:.1f} s" if first_ok is not None else "not within the run (35 s)"
    print(f"## SIGKILL of a {stage} replica (pid {pid}) under {clients} clients")
    print(f"time to recover (first 200 of a request sent after the kill): {recover}")
    print(f"statuses from the kill to recovery: {dict(sorted(Counter(a.status for a in window).items()))}")
    print(f"statuses after the kill (whole run): {dict(sorted(Counter(a.status for a in after).items()))}")
    print(f"requests lost (answer other than 200/503, or none): {len(lost)}")
    print(f"latency of answers after the kill: {percentiles([a.done - a.sent for a in after])}")
    print_bodies(after)


def raw(port: int, data: bytes, wait_s: float) -> str:
    """Send ``data`` on a fresh connection: when the answer came, its status line and body, when it closed."""
    start = time.monotonic()
    answer, first = b"", None
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                first = first or time.monotonic() - start
                answer += chunk
        except (TimeoutError, ConnectionResetError) as exc:
            answer += f"<{type(exc).__name__}>".encode()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n")[0]
    came = f"answer at {first:.2f} s" if first is not None else "no answer"
    return f"{came}, closed at {time.monotonic() - start:.2f} s: {status_line!r} {body[:90]!r}"


def connections(port: int, body: bytes, wait_s: float = 45.0) -> None:
    """Slow and oversize requests, one connection each: who answers (HAProxy or the app), how fast."""
    post = b"POST /detect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    whole = b"Content-Length: %d\r\n\r\n" % len(body) + body
    probes = {
        "headers stalled half-way": post + b"X-Half: a",
        "body stalled (10 of 100,000 bytes)": post + b"Content-Length: 100000\r\n\r\n0123456789",
        "one 12 KiB header": post + b"X-Big: " + b"a" * 12_000 + b"\r\n" + whole,
        "one 64 KiB header": post + b"X-Big: " + b"a" * 65_536 + b"\r\n" + whole,
        "10,000 headers": post + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + whole,
    }
    print(f"## connections (answer within {wait_s:g} s, or none)")
    with ThreadPoolExecutor(len(probes)) as pool:
        for name, answer in zip(probes, pool.map(lambda data: raw(port, data, wait_s), probes.values())):
            print(f"  {name}: {answer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--kill", default="Detector,Preprocess,Postprocess,Ingress", help="stages to SIGKILL ('' for none)"
    )
    parser.add_argument("--kill-clients", type=int, default=16)
    parser.add_argument("--no-connections", action="store_true", help="skip the slow/oversize request probes")
    parser.add_argument("--stalled", type=int, default=0, help="stalled uploads held open during a good-client run")
    parser.add_argument("--cpus", type=float, default=None, help="Ray's CPUs (default: the machine's)")
    parser.add_argument("--arg", action="append", default=[], help="an app arg, key=value (YAML value)")
    options = parser.parse_args()

    import ray
    import yaml

    os.environ.update(HIGH_THROUGHPUT_ENV)
    # HAProxy's stats and metrics listeners on free ports: other clusters may run on this host
    os.environ.setdefault("RAY_SERVE_HAPROXY_METRICS_PORT", str(free_port()))
    os.environ.setdefault("RAY_SERVE_HAPROXY_STATS_PORT", str(free_port()))
    args = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in options.arg)}
    port = free_port()
    # address="local": always a cluster of its own, never one another process on this host runs
    ray.init(
        address="local", num_cpus=options.cpus, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    try:
        conf = config(port, args)
        deploy(conf)
        url = f"http://127.0.0.1:{port}"
        body = sample()
        print(f"# {ray.cluster_resources().get('CPU', 0):g} CPUs; args {args or 'as shipped'}")
        if not options.no_connections:
            connections(port, body)
        if options.stalled:
            stalled_uploads(port, url, body, options.stalled, 8, min(options.seconds, 8.0))
        if options.clients:
            overload(url, body, options.clients, options.seconds)
        for stage in filter(None, options.kill.split(",")):
            if stage == "Detector":  # after a CPU-stage upscale (issue 12: the 8-minute outage)
                upscaled = copy.deepcopy(conf)
                upscaled["applications"][0]["args"]["preprocess_replicas"] = 2
                deploy(upscaled)
                kill(url, body, stage, options.kill_clients)
                deploy(conf)
            else:
                kill(url, body, stage, options.kill_clients)
            time.sleep(5.0)
    finally:
        from ray import serve

        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
