"""The Grafana dashboard's PromQL, taken apart: which metrics and labels each query uses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import REPO

DASHBOARD = REPO / "k8s" / "monitoring" / "grafana-dashboard.json"
METRIC = re.compile(r"\b(ray_[a-zA-Z0-9_]+)\b")
MATCHERS = re.compile(r"\{([^}]*)\}")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Exported by Ray's node agent only on nodes with NVIDIA GPUs: checked against Ray's source instead.
GPU_ONLY = frozenset({"ray_node_gpus_utilization", "ray_node_gram_used"})


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expr)`` for every query of every panel (rows included)."""
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield inner["title"], target["expr"]


def metrics_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The metric names an expression reads and the label names it matches or groups by."""
    labels: set[str] = set()
    for body in MATCHERS.findall(expr):
        labels |= {m.split("=")[0].rstrip("!~").strip() for m in body.split(",") if "=" in m}
    for body in GROUPING.findall(expr):
        labels |= {name.strip() for name in body.split(",") if name.strip()}
    return set(METRIC.findall(expr)), labels
