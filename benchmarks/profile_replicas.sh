#!/usr/bin/env bash
# Where the served app's replicas spend their time under load: `serve run serve_config.yaml`
# (high-throughput mode, as `make serve` runs it), `hey -c 64` with a 640x480 JPEG, and
# py-spy (raw folded stacks by thread, 250 Hz, 10 s) on the Detector and one replica of each
# other stage.  A thread counts as busy while it runs on a CPU (one waiting for the GIL
# does not), so a stage whose event-loop thread is busy ~100% of the time is bound by it
# whatever its process's CPU use says.  Then each stage's busiest threads and the top
# frames of its two busiest; `top -H` adds the Detector's threads py-spy does not see
# (Ray's C++ ones).  With GIL=1, py-spy samples only the thread holding the GIL (``--gil``), so
# a stage's "threads busy" is the share of the time its GIL is held: near 1.00, that process
# serialises the app whatever its CPU use.  IMG picks the image (default: the bundled 744x354
# sample).  On the GPU machine:
#   HEY=/tmp/hey/usr/bin/hey PYSPY=/tmp/pyspy/bin/py-spy [GIL=1] [IMG=x.jpg] bash benchmarks/profile_replicas.sh OUT_DIR [CONFIG]
set -u
out=${1:-profile-out}; config=${2:-serve_config.yaml}; mkdir -p "$out"
HEY=${HEY:-hey}; PYSPY=${PYSPY:-py-spy}; seconds=10; rate=250
export RAY_SERVE_ENABLE_HA_PROXY=1 RAY_SERVE_THROUGHPUT_OPTIMIZED=1 RAY_DASHBOARD_ENABLED=0
serve run "$config" > "$out/serve.log" 2>&1 &
for _ in $(seq 150); do curl -sf localhost:8000/healthz > /dev/null && break; sleep 1; done
img=${IMG:-models/shapes-yolov3-tiny/samples/shapes_0.jpg}
gil=(); [ "${GIL:-0}" = 1 ] && gil=(--gil)
load() { "$HEY" -z "$1" -c 64 -m POST -D "$img" -T image/jpeg http://127.0.0.1:8000/detect; }
load 6s > /dev/null
load 20s > "$out/hey.txt" &
waiting=($!)
sleep 4
for stage in Detector Preprocess Postprocess Ingress; do
    pid=$(pgrep -f "ServeReplica:.*:$stage" | head -1)
    "$PYSPY" record -p "$pid" -d $seconds -r $rate --format raw --nonblocking --threads ${gil[@]+"${gil[@]}"} \
        -o "$out/${stage,,}.txt" > "$out/${stage,,}.py-spy.log" 2>&1 &  # its lag and dropped-sample warnings
    waiting+=($!)
done
top -b -n 1 -d 1 -w 200 | head -30 > "$out/top.txt"
# every thread of the Detector, Ray's C++ ones (gRPC, core worker) included, which py-spy does not see
top -H -b -n 2 -d 2 -w 200 -p "$(pgrep -f 'ServeReplica:.*:Detector' | head -1)" | awk '/^top -/{n++} n==2' | head -25 > "$out/detector_threads.txt"
wait "${waiting[@]}"  # not `serve run`, which runs until shut down
curl -s localhost:8000/model > "$out/model.json"
serve shutdown -y > /dev/null 2>&1; ray stop --force > /dev/null 2>&1
python3 - "$out" $seconds $rate <<'PY'
import collections, pathlib, sys

out, seconds, rate = pathlib.Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
possible = seconds * rate


def stacks(path):
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        yield stack.split(";"), int(count)


with open(out / "summary.txt", "w") as summary:
    for stage in ("detector", "preprocess", "postprocess", "ingress"):
        threads, frames_of = collections.Counter(), collections.defaultdict(collections.Counter)
        for frames, n in stacks(out / f"{stage}.txt"):
            thread = frames[0] if frames[0].startswith("thread") else "?"
            threads[thread] += n
            frames_of[thread][frames[-1]] += n
        print(f"## {stage}: {sum(threads.values()) / possible:.2f} threads busy on average; busiest:", file=summary)
        for thread, n in threads.most_common(6):
            print(f"  {100 * n / possible:5.1f}%  {thread}", file=summary)
        for thread, _ in threads.most_common(2):
            print(f"  top frames of {thread} (share of its busy samples):", file=summary)
            own = frames_of[thread]
            for frame, n in own.most_common(10):
                print(f"    {100 * n / max(threads[thread], 1):5.1f}%  {frame}", file=summary)
PY
grep -E "Requests/sec" "$out/hey.txt"; cat "$out/summary.txt" "$out/detector_threads.txt"
