"""The served app against its own GPU, in one run, driven by an independent load generator.

    python benchmarks/serve_bench.py --hey /path/to/hey [--model M.onnx] [--seconds 12]
        [--concurrency 64] [--arg max_batch_size=32 ...] [--multipart 8] [--classic] [--out DIR]
        [--variant NAME:key=value,...] [--rounds N]

In this order, on one machine, with nothing else of ours running:
1. bare backend: the inference backend alone on ready uint8 batches at the served batch size
   (two threads, as the Detector replica runs two batches at a time) — the ceiling of the GPU;
2. no-op Serve app (benchmarks/noop_app.py) in the same proxy mode, with as many Ingress
   replicas as the app gets — the ceiling of Ray Serve's HTTP path on this machine;
   with ``--noop-chain``, also the app's topology with the work taken out
   (``noop_app.chain_app``: same stages, replicas, CPUs and transports, a model-input-sized
   tensor through the object store, no decode and no inference) — what Serve's hops carry;
3. the app, ``serve_config.yaml`` as shipped (capacity derived from the machine; ``--arg``
   overrides an ``args:`` entry) at 640x480 and 1920x1080 JPEG (q90), and optionally
   multipart requests of ``--multipart`` images; ``--image FILE`` adds a file of yours, sent
   as it is (``--sizes ''`` for it alone).
Load: ``hey -z SECONDS -c CONCURRENCY`` (a Go program, not a Python loop on the measured
cores) with per-request CSV output; only 2xx responses count as throughput, latency
percentiles are of 2xx responses, other statuses are counted apart (status "0": a transport
error, e.g. a refused or reset connection).
Prints a markdown table with the ratios; writes ``bench.json`` and ``bench.md`` into ``--out``.
One run of one configuration is not enough to compare two: on an H200 node the shipped
config, unchanged, spread 750-1,274 images/s over ten 8-second runs (the slow ones while the
host stole cores).  ``--rounds N`` measures the app and each ``--variant`` N times, in turn
(A B A B), each on a fresh deployment, and adds a table of each configuration's median, min
and max, and how many of its runs lost a core or more to the host.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deployments.config import HIGH_THROUGHPUT_ENV  # noqa: E402


def parse_args(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> app args (values read as YAML: numbers, booleans, null)."""
    import yaml

    return {k: yaml.safe_load(v) for k, v in (pair.split("=", 1) for pair in pairs)}


def jpeg_of_size(width: int, height: int) -> bytes:
    """A demo sample (real shapes to detect) resized to ``width x height``, JPEG q90."""
    sample = REPO / "models" / "shapes-yolov3-tiny" / "samples" / "shapes_0.jpg"
    buffer = io.BytesIO()
    Image.open(sample).convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def mime_type(name: str) -> str:
    """The Content-Type to send an image under: by its file name, JPEG for the generated sizes
    (cosmetic: the service reads a raw body's format from its bytes)."""
    import mimetypes

    return mimetypes.guess_type(name)[0] or "image/jpeg"


def multipart_body(images: list[bytes], boundary: str = "trtdetectbenchboundary") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{i}.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
        for i, data in enumerate(images)
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _cpu_seconds() -> dict[int, tuple[str, float]]:
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            name = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:90]
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        out[int(stat.parent.name)] = (
            name or text[text.index("(") : text.rindex(")") + 1],
            (int(fields[11]) + int(fields[12])) / ticks,
        )
    return out


def _node_ticks() -> tuple[int, int, int, int]:
    """The node's CPU ticks since boot from ``/proc/stat``: (busy, stolen by the host, all, CPUs)."""
    lines = Path("/proc/stat").read_text().splitlines()
    fields = [int(v) for v in lines[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3].isdigit())
    return user + nice + system + irq + softirq, steal, sum(fields), cpus


def busiest_processes(
    delay_s: float, into: list[str], node: dict[str, float], window_s: float = 2.0
) -> threading.Thread:
    """CPU use of the busiest processes over ``window_s`` from ``delay_s`` on (which stage is
    the limit), and the whole node's in ``node``: busy, stolen and load-generator cores."""

    def measure() -> None:
        time.sleep(delay_s)
        before, ticks_before = _cpu_seconds(), _node_ticks()
        time.sleep(window_s)
        after, ticks_after = _cpu_seconds(), _node_ticks()
        usage = sorted(
            ((after[pid][1] - before[pid][1]) / window_s * 100, after[pid][0]) for pid in after if pid in before
        )[::-1]
        into.extend(f"{pct:5.0f}% {name}" for pct, name in usage[:24] if pct >= 1)
        busy, steal, total, _ = (b - a for a, b in zip(ticks_before, ticks_after))
        cores = ticks_after[3]
        node["busy_cores"] = round(busy / max(total, 1) * cores, 2)
        node["stolen_cores"] = round(steal / max(total, 1) * cores, 2)
        node["load_generator_cores"] = round(sum(pct for pct, name in usage if "hey" in name.split(" ")[0]) / 100, 2)

    thread = threading.Thread(target=measure, daemon=True)
    thread.start()
    return thread


def stage_timings(
    url: str, body: bytes, content_type: str, seconds: float, into: list[dict[str, float]]
) -> threading.Thread:
    """A few requests during the load (one every 0.25 s): where an image's time goes."""
    import urllib.request

    def sample() -> None:
        stop = time.monotonic() + seconds - 1
        time.sleep(1)
        while time.monotonic() < stop:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    result = json.loads(response.read())
                for item in result.get("results", [result]):
                    into.append(item.get("timing_ms", {}))
            except Exception as exc:
                body_text = getattr(exc, "read", lambda: b"")()[:300]
                into.append({"error": f"{exc} {body_text!r}"})  # type: ignore[dict-item]
            time.sleep(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


STAGE_KEYS = ("call_wait", "preprocess", "inference_queue", "inference", "postprocess")


def stage_medians(samples: list[dict[str, float]]) -> dict[str, float]:
    """Median ms of each timing key over the sampled responses, and ``hops``: the median of
    what each response's ``total`` leaves to Serve's calls between the stages (and the waits
    inside them) once its own stages and waits are taken out."""
    medians = {
        key: round(float(np.median([t[key] for t in samples if key in t])), 2)
        for key in (*STAGE_KEYS, "total")
        if any(key in t for t in samples)
    }
    complete = [t for t in samples if all(key in t for key in (*STAGE_KEYS, "total"))]
    if complete:
        medians["hops"] = round(float(np.median([t["total"] - sum(t[k] for k in STAGE_KEYS) for t in complete])), 2)
    return medians


def run_hey(hey: str, url: str, body: bytes, content_type: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """``hey`` against ``url``; throughput and percentiles of 2xx only, other outcomes counted."""
    processes: list[str] = []
    node: dict[str, float] = {}
    samples: list[dict[str, float]] = []
    with tempfile.NamedTemporaryFile(suffix=".bin") as payload:
        payload.write(body)
        payload.flush()
        command = [
            hey,
            "-z",
            f"{seconds}s",
            "-c",
            str(concurrency),
            "-m",
            "POST",
            "-T",
            content_type,
            "-D",
            payload.name,
            "-o",
            "csv",
            url,
        ]
        threads = [
            busiest_processes(seconds / 2, processes, node),
            stage_timings(url, body, content_type, seconds, samples),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
        for thread in threads:
            thread.join()
    out = done.stdout
    if done.returncode != 0 or "status-code" not in out:
        raise RuntimeError(f"hey failed ({done.returncode}): {done.stderr[-2000:]} {out[:500]}")
    rows = [line.split(",") for line in out.splitlines()[1:] if line.count(",") >= 7]
    statuses: dict[str, int] = {}
    ok_latency: list[float] = []
    end = 0.0
    for row in rows:
        latency, status, offset = float(row[0]), row[6], float(row[7])
        statuses[status] = statuses.get(status, 0) + 1
        end = max(end, offset + latency)
        if status.startswith("2"):
            ok_latency.append(latency * 1e3)
    wall = max(end, 1e-9)
    print(
        f"  {url}: {len(rows)} responses {statuses} in {wall:.1f} s; sampled stage ms: "
        f"{[{k: v for k, v in t.items() if k != 'preprocess'} for t in samples[-2:]]}",
        flush=True,
    )
    ok = np.asarray(ok_latency) if ok_latency else np.zeros(1)
    return {
        "requests_per_s_2xx": len(ok_latency) / wall,
        "p50_ms": float(np.percentile(ok, 50)),
        "p90_ms": float(np.percentile(ok, 90)),
        "p99_ms": float(np.percentile(ok, 99)),
        "statuses": statuses,
        "wall_s": wall,
        "busiest_processes": processes,
        "node_cpu": node,
        "stage_ms_median": stage_medians(samples),
        "errors_seen": [t["error"] for t in samples if "error" in t][:3],
    }


def in_process(model: str | None, data: bytes, batch: int, seconds: float) -> float:
    """Images/s of the library's ``Detector.detect_batch`` on the same JPEG (decode included)."""
    from trt_core import Detector

    with Detector.from_onnx(model, max_batch=batch) as detector:
        detector.detect_batch([data] * batch)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            detector.detect_batch([data] * batch)
            done += batch
        return done / (time.perf_counter() - start)


def bare_backend(model: str | None, batch: int, seconds: float) -> float:
    """Images/s of the backend alone on ready uint8 batches, two threads like the replica."""
    from trt_core import Detector

    with Detector.from_onnx(model, max_batch=batch) as detector:
        tensor = detector.preprocess(jpeg_of_size(640, 480)).tensor
        batch_array = np.ascontiguousarray(np.stack([tensor] * batch))
        for _ in range(10):
            detector.backend.infer(batch_array)
        done = [0, 0]
        stop = time.perf_counter() + seconds

        def loop(slot: int) -> None:
            while time.perf_counter() < stop:
                detector.backend.infer(batch_array)
                done[slot] += batch

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(2)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(done) / (time.perf_counter() - start)


def wait_healthy(url: str, timeout_s: float = 600) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except Exception:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not become healthy")


def warm_until_clean(hey: str, url: str, bodies: list[bytes], concurrency: int, limit_s: float = 60) -> None:
    """Load every replica (CUDA and cuDNN set-up, first batches) until a 3 s run has only 2xx answers."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        runs = [run_hey(hey, url, data, "image/jpeg", 3, concurrency) for data in bodies]
        if all(set(r["statuses"]) <= {"200"} for r in runs):
            return
    print(f"  still not all 2xx after {limit_s:g} s of warm-up", flush=True)


def deploy_app(args: dict[str, Any], port: int) -> None:
    import yaml
    from ray.serve._private import api as serve_api
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    config["http_options"]["port"] = port
    config["applications"][0]["args"].update(args)
    schema = ServeDeploySchema.model_validate(config)
    client = serve_api.serve_start(http_options=config["http_options"], proxy_location=schema.proxy_location)
    client.deploy_apps(schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hey", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--arg", action="append", default=[], help="an app arg, key=value (YAML value)")
    parser.add_argument("--multipart", type=int, default=0)
    parser.add_argument("--multipart-concurrency", type=int, default=16, help="clients sending multipart requests")
    parser.add_argument("--sizes", default="640x480,1920x1080", help="JPEG sizes, comma-separated WxH ('' for none)")
    parser.add_argument("--image", action="append", default=[], type=Path, help="also this image file, as it is")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME:key=value,... another app configuration measured after the first",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the app and every variant this many times, in turn, each on a fresh deployment "
        "(one 8-second run of one config spread 750-1,274 images/s on an H200 node)",
    )
    parser.add_argument("--classic", action="store_true", help="Serve's classic proxy instead of HAProxy + gRPC")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--in-process", action="store_true", help="also the library's Detector on the same images")
    parser.add_argument("--skip-noop", action="store_true")
    parser.add_argument("--noop-chain", action="store_true", help="also the app's topology with no work in it")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    opts = parser.parse_args(argv)
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    images = {size: jpeg_of_size(*map(int, size.split("x"))) for size in opts.sizes.split(",") if size}
    if len({path.name for path in opts.image}) < len(opts.image):
        parser.error("--image files need different names (they name the runs)")
    images.update({path.name: path.read_bytes() for path in opts.image})
    if not images:
        parser.error("no images: give --sizes or --image")
    app_args = parse_args(opts.arg)
    if opts.model:
        app_args["model"] = opts.model
    mode = {k: "0" for k in HIGH_THROUGHPUT_ENV} if opts.classic else HIGH_THROUGHPUT_ENV
    os.environ.update(mode)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    opts.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "mode": "classic" if opts.classic else "high-throughput",
        "args": app_args,
        "concurrency": opts.concurrency,
        "seconds": opts.seconds,
        "command": sys.argv,
    }
    batch = int(app_args.get("max_batch_size", 8))
    if not opts.skip_bare:
        report["bare_images_per_s"] = bare_backend(app_args.get("model"), batch, opts.seconds)
        print(f"bare backend, batch {batch}: {report['bare_images_per_s']:.0f} images/s", flush=True)
    if opts.in_process:
        report["in_process"] = {
            size: in_process(app_args.get("model"), data, batch, opts.seconds) for size, data in images.items()
        }
        print("in-process Detector:", {k: round(v) for k, v in report["in_process"].items()}, flush=True)

    import ray
    from ray import serve

    from deployments.app import capacity
    from deployments.config import AppArgs

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    plan = capacity(AppArgs.model_validate(app_args))
    report["plan"] = plan.describe()
    port = 8000
    url = f"http://127.0.0.1:{port}"
    if not opts.skip_noop:
        from benchmarks.noop_app import NoopIngress

        serve.start(http_options={"host": "0.0.0.0", "port": port})
        serve.run(
            NoopIngress.options(num_replicas=plan.stages["Ingress"].replicas).bind(), name="noop", route_prefix="/"
        )
        report["noop"] = {
            name: run_hey(opts.hey, url + "/detect", data, mime_type(name), opts.seconds, opts.concurrency)
            for name, data in images.items()
        }
        print("no-op:", {k: round(v["requests_per_s_2xx"]) for k, v in report["noop"].items()}, flush=True)
        serve.delete("noop")
    if opts.noop_chain:
        from benchmarks.noop_app import chain_app

        serve.start(http_options={"host": "0.0.0.0", "port": port})
        stages = {name: (s.replicas, s.num_cpus) for name, s in plan.stages.items()}
        validated = AppArgs.model_validate(app_args)
        grouping = {"images_per_call": validated.images_per_call, "call_wait_s": validated.call_wait_s}
        serve.run(chain_app(stages, **grouping), name="chain", route_prefix="/")
        report["noop_chain"] = {
            name: run_hey(opts.hey, url + "/detect", data, mime_type(name), opts.seconds, opts.concurrency)
            for name, data in images.items()
        }
        print("no-op chain:", {k: round(v["requests_per_s_2xx"]) for k, v in report["noop_chain"].items()}, flush=True)
        serve.delete("chain")
    report["app"] = {}
    report["rounds"] = opts.rounds
    variants = [("", {})] + [(v.split(":", 1)[0], parse_args(v.split(":", 1)[1].split(","))) for v in opts.variant]
    for round_ in range(opts.rounds):  # configurations in turn: A B A B, not A A B B
        for name, changes in variants:
            label = (f" [{name}]" if name else "") + (f" #{round_ + 1}" if opts.rounds > 1 else "")
            if name or round_:  # a fresh app: an in-place update would roll replicas over during the measurement
                serve.delete("detector")
            deploy_app({**app_args, **changes}, port)
            wait_healthy(url + "/healthz")
            warm_until_clean(opts.hey, url + "/detect", list(images.values()), opts.concurrency)
            for size, data in images.items():
                report["app"][size + label] = run_hey(
                    opts.hey, url + "/detect", data, mime_type(size), opts.seconds, opts.concurrency
                )
            if opts.multipart and not name:  # the shipped config only
                for size, data in images.items():
                    body, content_type = multipart_body([data] * opts.multipart)
                    result = run_hey(
                        opts.hey, url + "/detect", body, content_type, opts.seconds, opts.multipart_concurrency
                    )
                    result["images_per_s_2xx"] = result["requests_per_s_2xx"] * opts.multipart
                    report["app"][f"{size} x{opts.multipart} multipart{label}"] = result
    import urllib.request

    with urllib.request.urlopen(url + "/model", timeout=10) as response:
        report["model"] = json.loads(response.read())
    serve.shutdown()
    ray.shutdown()
    (opts.out / "bench.json").write_text(json.dumps(report, indent=2))
    table = render(report)
    (opts.out / "bench.md").write_text(table)
    print(table)
    return 0


def render(report: dict[str, Any]) -> str:
    bare = report.get("bare_images_per_s")
    lines = [
        f"mode {report['mode']}, concurrency {report['concurrency']}, {report['seconds']} s per run, plan: "
        f"{report['plan']}, args {report['args']}",
        "",
        "| run | images/s (2xx) | p50 ms | p90 ms | p99 ms | statuses | vs bare | vs no-op | vs no-op chain "
        "| CPU ms per image | cores stolen |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    if bare:
        lines.append(f"| bare backend | {bare:.0f} | | | | | 1.00 | | | | |")
    for size, rate in report.get("in_process", {}).items():
        lines.append(f"| in-process Detector (decode included), {size} | {rate:.0f} | | | | | | | | | |")
    noop = report.get("noop", {})
    chain = report.get("noop_chain", {})
    for label, runs, column in (("no-op Serve app", noop, "| 1.00 | |"), ("no-op chain", chain, "| | 1.00 |")):
        for name, r in runs.items():
            lines.append(
                f"| {label}, {name} | {r['requests_per_s_2xx']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['statuses']} | {column} "
                f"{cpu_ms_per_image(r, r['requests_per_s_2xx'])} | {stolen(r)} |"
            )
    for name, r in report["app"].items():
        rate = r.get("images_per_s_2xx", r["requests_per_s_2xx"])
        size = name.split(" ")[0]
        vs_bare = f"{rate / bare:.2f}" if bare else ""
        ceiling = noop.get(size, {}).get("requests_per_s_2xx", 0.0)
        vs_noop = f"{rate / ceiling:.2f}" if ceiling else ""
        hops = chain.get(size, {}).get("requests_per_s_2xx", 0.0)
        vs_chain = f"{rate / hops:.2f}" if hops else ""
        local = report.get("in_process", {}).get(size)
        if local:
            name += f" ({rate / local:.2f}x in-process)"
        lines.append(
            f"| app, {name} | {rate:.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['statuses']} | {vs_bare} | {vs_noop} | {vs_chain} | {cpu_ms_per_image(r, rate)} | {stolen(r)} |"
        )
    if report.get("rounds", 1) > 1:
        lines += ["", "| configuration | runs | median images/s | min | max | runs with a core or more stolen |"]
        lines.append("|---|---:|---:|---:|---:|---:|")
        for config, runs in rounds_of(report["app"]).items():
            rates = [r.get("images_per_s_2xx", r["requests_per_s_2xx"]) for r in runs]
            robbed = sum((r.get("node_cpu") or {}).get("stolen_cores", 0.0) >= 1.0 for r in runs)
            lines.append(
                f"| {config} | {len(runs)} | {statistics.median(rates):.0f} | {min(rates):.0f} | {max(rates):.0f} "
                f"| {robbed} |"
            )
    return "\n".join(lines) + "\n"


def rounds_of(app: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The app's runs by configuration (their names without the `` #round`` suffix)."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for name, run in app.items():
        configs.setdefault(name.rsplit(" #", 1)[0], []).append(run)
    return configs


def stolen(run: dict[str, Any]) -> str:
    """Cores the host took from the node during the run's mid-run window; empty where not measured."""
    node = run.get("node_cpu") or {}
    return f"{node['stolen_cores']:.2f}" if "stolen_cores" in node else ""


def cpu_ms_per_image(run: dict[str, Any], images_per_s: float) -> str:
    """The node's busy CPU (all processes but the load generator) per image served, over the
    run's mid-run window; empty where not measured."""
    node = run.get("node_cpu") or {}
    if "busy_cores" not in node or images_per_s <= 0:
        return ""
    return f"{(node['busy_cores'] - node['load_generator_cores']) * 1e3 / images_per_s:.1f}"


if __name__ == "__main__":
    sys.exit(main())
