"""benchmarks/cpu_scaling.py runs its processes together and reports each count's efficiency."""

from __future__ import annotations

from pathlib import Path

from benchmarks.cpu_scaling import main


def test_each_work_and_process_count_gets_a_row(tmp_path: Path) -> None:
    out = tmp_path / "scaling.txt"
    assert main(["--procs", "1,2", "--seconds", "0.3", "--out", str(out)]) == 0
    rows = [line.split() for line in out.read_text().splitlines() if line.startswith(("preprocess ", "python "))]
    assert [(row[0], row[1]) for row in rows] == [
        ("preprocess", "1"),
        ("preprocess", "2"),
        ("python", "1"),
        ("python", "2"),
    ]
    for row in rows:
        total, per_process, efficiency = float(row[2]), float(row[3]), float(row[4])
        assert total > 0 and abs(per_process - total / int(row[1])) <= 1 and 0.2 < efficiency < 3
