"""benchmarks/serve_bench.py: its report (runs grouped by configuration over rounds, cores
stolen), the images it sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.serve_bench import main, mime_type, render, rounds_of, stage_medians, stolen


def run(rate: float, stolen_cores: float | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"requests_per_s_2xx": rate, "p50_ms": 50.0, "p90_ms": 60.0, "p99_ms": 70.0}
    found["statuses"] = {"200": int(rate * 8)}
    if stolen_cores is not None:
        found["node_cpu"] = {"busy_cores": 10.0, "stolen_cores": stolen_cores, "load_generator_cores": 0.2}
    return found


def report(app: dict[str, Any], rounds: int) -> dict[str, Any]:
    return {
        "mode": "high-throughput",
        "concurrency": 64,
        "seconds": 8,
        "plan": "p",
        "args": {},
        "rounds": rounds,
        "app": app,
    }


def test_runs_are_grouped_by_configuration_without_their_round() -> None:
    app = {
        "640x480 #1": run(1100),
        "640x480 [v] #1": run(900),
        "640x480 x8 multipart #1": run(200),
        "640x480 #2": run(1274),
        "640x480 [v] #2": run(950),
    }
    groups = rounds_of(app)
    assert list(groups) == ["640x480", "640x480 [v]", "640x480 x8 multipart"]
    assert [r["requests_per_s_2xx"] for r in groups["640x480"]] == [1100, 1274]


def test_the_summary_gives_median_min_max_and_runs_robbed_of_a_core() -> None:
    app = {"640x480 #1": run(750, 2.3), "640x480 #2": run(1274, 0.0), "640x480 #3": run(1100, 0.4)}
    table = render(report(app, 3))
    assert "| 640x480 | 3 | 1100 | 750 | 1274 | 1 |" in table
    assert "| 2.30 |" in table and stolen(run(1.0)) == ""


def test_one_round_has_no_summary() -> None:
    table = render(report({"640x480": run(1200, 0.0)}, 1))
    assert "median images/s" not in table and "| app, 640x480 | 1200 |" in table


def test_an_image_file_is_sent_as_its_type_and_a_generated_size_as_jpeg() -> None:
    assert mime_type("street.png") == "image/png"
    assert mime_type("photo.JPG") == "image/jpeg"
    assert mime_type("640x480") == "image/jpeg"


def test_no_sizes_and_no_image_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--hey", "hey", "--sizes", "", "--out", str(tmp_path / "out")])
    assert refused.value.code == 2 and "no images" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_two_images_of_one_name_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(b"jpeg")
    with pytest.raises(SystemExit):
        main(
            ["--hey", "hey", "--sizes", "", "--image", str(tmp_path / "a/x.jpg"), "--image", str(tmp_path / "b/x.jpg")]
        )
    assert "different names" in capsys.readouterr().err


def test_stage_medians_leave_the_hops_what_the_stages_do_not_explain() -> None:
    def sample(wait: float, total: float) -> dict[str, float]:
        stages = {"preprocess": 2.0, "inference_queue": 1.0, "inference": 4.0, "postprocess": 0.5}
        return {"call_wait": wait, **stages, "total": total}

    found = stage_medians([sample(5.0, 40.0), sample(3.0, 30.0), sample(1.0, 50.0), {"error": "HTTP 503"}])
    assert found["call_wait"] == 3.0 and found["total"] == 40.0
    assert found["hops"] == 27.5  # the median of 27.5, 19.5 and 41.5, not the difference of medians (29.5)
    assert "hops" not in stage_medians([{"preprocess": 2.0, "total": 9.0}])  # a library-style timing
