#!/usr/bin/env bash
# Where the served app's replicas spend their time under load: `serve run serve_config.yaml`
# (high-throughput mode, as `make serve` runs it), `hey -c 64` with a 640x480 JPEG, and
# py-spy (raw folded stacks, 250 Hz, 12 s) on the Detector, one Preprocess and one Ingress
# replica, then each profile's top frames.  On the GPU machine:
#   HEY=/tmp/hey/usr/bin/hey PYSPY=/tmp/pyspy/bin/py-spy bash benchmarks/profile_replicas.sh OUT_DIR
set -u
out=${1:-profile-out}; mkdir -p "$out"
HEY=${HEY:-hey}; PYSPY=${PYSPY:-py-spy}
export RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_DASHBOARD_ENABLED=0
serve run serve_config.yaml > "$out/serve.log" 2>&1 &
for _ in $(seq 150); do curl -sf localhost:8000/healthz > /dev/null && break; sleep 1; done
img=models/shapes-yolov3-tiny/samples/shapes_0.jpg
load() { "$HEY" -z "$1" -c 64 -m POST -D "$img" -T image/jpeg http://127.0.0.1:8000/detect; }
load 6s > /dev/null
load 22s > "$out/hey.txt" &
sleep 4
for stage in Detector Preprocess Ingress; do
    pid=$(pgrep -f "ServeReplica:.*:$stage" | head -1)
    "$PYSPY" record -p "$pid" -d 12 -r 250 --format raw --nonblocking \
        -o "$out/${stage,,}.txt" > /dev/null 2>&1 &
done
top -b -n 1 -d 1 -w 200 | head -30 > "$out/top.txt"
wait
curl -s localhost:8000/model > "$out/model.json"
serve shutdown -y > /dev/null 2>&1; ray stop --force > /dev/null 2>&1
python3 - "$out" <<'PY'
import collections, pathlib, sys
out = pathlib.Path(sys.argv[1])
for stage in ("detector", "preprocess", "ingress"):
    own, total = collections.Counter(), 0
    for line in (out / f"{stage}.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        own[stack.split(";")[-1]] += int(count)
    with open(out / "summary.txt", "a") as summary:
        print(f"## {stage}: {total} samples (250 Hz x 12 s = 3,000 per busy thread); own time", file=summary)
        for frame, n in own.most_common(15):
            print(f"{100 * n / total:5.1f}%  {frame}", file=summary)
PY
grep -E "Requests/sec" "$out/hey.txt"; cat "$out/summary.txt"
