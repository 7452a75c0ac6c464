"""The monitoring manifests agree with the app's manifest and the dashboard is well formed.
(That every metric the dashboard queries is exported: tests/deployments/test_bench_live.py.)"""

from __future__ import annotations

import yaml

from tests.conftest import REPO
from tests.tools import dashboard

MONITORING = REPO / "k8s" / "monitoring"


def test_the_podmonitor_selects_every_ray_pod_on_the_metrics_port() -> None:
    monitor = yaml.safe_load((MONITORING / "podmonitor.yaml").read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
    selector = monitor["spec"]["selector"]["matchLabels"]
    service = yaml.safe_load((REPO / "k8s" / "rayservice.yaml").read_text())
    cluster = service["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:  # the head and every worker group carry the selected labels
        labels = group["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), (selector, labels)
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]  # KubeRay's name for 8080


def test_the_kustomization_ships_the_dashboard_and_the_monitor() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["podmonitor.yaml"]
    generated = kustomization["configMapGenerator"][0]
    assert generated["files"] == [dashboard.DASHBOARD.name]
    assert generated["options"]["labels"]["grafana_dashboard"] == "1"
    for name in [*kustomization["resources"], *generated["files"]]:
        assert (MONITORING / name).is_file()


def test_the_dashboard_is_well_formed() -> None:
    board = dashboard.load()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and board["uid"] == "trt-detect"
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for topic in (
        "request rate",
        "error rate",
        "preprocess",
        "inference",
        "postprocess",
        "batch size",
        "queued",
        "replicas",
        "gpu",
    ):
        assert topic in titles, topic
    used = set()
    for title, expr in dashboard.queries(board):
        names, _ = dashboard.metrics_and_labels(expr)
        assert names, f"{title}: no ray_ metric in {expr}"
        assert expr.count("(") == expr.count(")"), f"{title}: unbalanced {expr}"
        used |= names
    for stage in (
        "preprocess_ms",
        "inference_ms",
        "inference_queue_ms",
        "postprocess_ms",
        "batch_size",
        "detections_per_image",
    ):
        assert any(stage in name for name in used), stage


def test_metric_names_are_parsed() -> None:
    names, labels = dashboard.metrics_and_labels(
        'histogram_quantile(0.5, sum by (le, deployment) (rate(ray_x_bucket{application=~"$a",b!="c"}[1m])))'
    )
    assert names == {"ray_x_bucket"} and labels == {"le", "deployment", "application", "b"}
