"""The Kubernetes manifests: KubeRay's CRD schema, KubeRay's own admission rules, the
embedded Serve config (Serve's schema, the app builder, no drift from serve_config.yaml)
and the placement contract between the overlay and the worker groups."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s import render
from tests.conftest import REPO
from tests.fixtures import KUBERAY

K8S = REPO / "k8s"
QUANTITY = re.compile(  # the pattern KubeRay's CRD puts on every resource quantity
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_RAYSERVICE_NAME = 47  # KubeRay: MaxRayClusterNameLength (53) - 6


# -- loading ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    document = yaml.safe_load((K8S / "rayservice.yaml").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def serve_config(manifest: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def base_config() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "serve_config.yaml").read_text())
    assert isinstance(config, dict)
    return config


def cluster(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["rayClusterConfig"]
    return spec


def groups(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = cluster(manifest)
    yield "head", spec["headGroupSpec"]
    for group in spec["workerGroupSpecs"]:
        yield group["groupName"], group


def worker_group(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    found = [g for g in cluster(manifest)["workerGroupSpecs"] if g["groupName"] == name]
    assert len(found) == 1, f"expected one worker group {name!r}"
    return found[0]


def ray_container(group: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = group["template"]["spec"]["containers"][0]  # KubeRay: index 0 is Ray's
    return container


def app_deployments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (app,) = config["applications"]
    return {d["name"]: d for d in app.get("deployments", [])}


def quantity(value: str | int | float) -> float:
    text = str(value)
    assert QUANTITY.match(text), f"not a Kubernetes quantity: {text!r}"
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, scale in sorted(suffixes.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text)


# -- drift: the manifest's serveConfigV2 is exactly what render.py makes of serve_config.yaml --
def test_manifest_serve_config_is_rendered_from_serve_config() -> None:
    committed = (K8S / "rayservice.yaml").read_text()
    assert render.rendered_manifest() == committed, "k8s/rayservice.yaml is stale: run `python k8s/render.py`"
    assert render.main(["--check"]) == 0


def test_rendered_text_round_trips(serve_config: dict[str, Any], base_config: dict[str, Any]) -> None:
    overlay = yaml.safe_load((K8S / "overlay.yaml").read_text())
    assert serve_config == render.render_config(base_config, overlay)


def test_agrees_with_serve_config_where_it_must(serve_config: dict[str, Any], base_config: dict[str, Any]) -> None:
    """What clients and the design pin: one app named `detector` at `/`, the same builder,
    deployments and argument names, and the same port as the `serve` container ports."""
    (ours,), (base,) = serve_config["applications"], base_config["applications"]
    for key in ("name", "route_prefix", "import_path"):
        assert ours[key] == base[key]
    assert ours["name"] == "detector" and ours["route_prefix"] == "/"
    assert set(app_deployments(base_config)) <= set(app_deployments(serve_config))  # overrides kept
    assert set(base["args"]) <= set(ours["args"])
    assert serve_config["http_options"]["port"] == base_config["http_options"]["port"]
    assert serve_config["http_options"]["host"] == "0.0.0.0"  # reachable from the serve Service


def test_render_merge_rules() -> None:
    base = {
        "a": {"b": 1, "c": 2},
        "keep": [1, 2],
        "applications": [{"name": "x", "deployments": [{"name": "D", "num_replicas": 1, "opt": {"k": 1}}]}],
    }
    patch = {
        "a": {"b": None, "d": 3},
        "keep": [3],
        "applications": [
            {"name": "x", "deployments": [{"name": "D", "num_replicas": None, "opt": {"j": 2}}, {"name": "E"}]},
            {"name": "y"},
        ],
    }
    merged = render.merge(base, patch)
    assert merged == {
        "a": {"c": 2, "d": 3},
        "keep": [3],
        "applications": [
            {"name": "x", "deployments": [{"name": "D", "opt": {"k": 1, "j": 2}}, {"name": "E"}]},
            {"name": "y"},
        ],
    }
    assert base["a"] == {"b": 1, "c": 2}  # inputs untouched
    with pytest.raises(render.RenderError):
        render.merge({"deployments": [{"name": "A"}]}, {"deployments": [{"no_name": 1}]})


def test_render_replaces_only_the_block() -> None:
    manifest = "spec:\n  serveConfigV2: |\n    old: 1\n\n    more: 2\n\n  rayClusterConfig:\n    x: 1\n"
    out = render.replace_block(manifest, "# hdr\nnew: 2\n")
    assert out == "spec:\n  serveConfigV2: |\n    # hdr\n    new: 2\n\n  rayClusterConfig:\n    x: 1\n"
    assert yaml.safe_load(out)["spec"]["serveConfigV2"] == "# hdr\nnew: 2\n"
    with pytest.raises(render.RenderError):
        render.replace_block("spec: {}\n", "x: 1\n")


def test_check_mode_reports_a_stale_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "rayservice.yaml"
    current = (K8S / "rayservice.yaml").read_text()
    stale.write_text(current.replace("target_ongoing_requests: 16", "target_ongoing_requests: 3"))
    assert render.main(["--check", "--manifest", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert render.main(["--manifest", str(stale)]) == 0
    assert stale.read_text() == current


# -- KubeRay's CRD (v1.7.0) --------------------------------------------------------------------
def crd_schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load((KUBERAY / name).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def strict(schema: Any) -> Any:
    """The schema with unknown fields rejected, as `kubectl apply --validate=strict` does: the
    API server silently prunes fields a structural schema does not know, so a misspelt
    field (``enableInTreeAutoscalling``) would pass plain validation and be dropped."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def validation_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(strict(schema))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_rayservice_validates_against_kuberay_crd(manifest: dict[str, Any]) -> None:
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    assert validation_errors(crd_schema("ray.io_rayservices.yaml"), manifest) == []


def test_strict_validation_catches_misspelt_fields(manifest: dict[str, Any]) -> None:
    schema = crd_schema("ray.io_rayservices.yaml")
    broken = copy.deepcopy(manifest)
    broken["spec"]["rayClusterConfig"]["enableInTreeAutoscalling"] = True
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resource"] = {}
    errors = validation_errors(schema, broken)
    assert len(errors) == 2, errors


def test_cluster_spec_validates_against_raycluster_crd(manifest: dict[str, Any]) -> None:
    """RayService creates a RayCluster from rayClusterConfig: it must be a valid RayCluster spec too."""
    schema = crd_schema("ray.io_rayclusters.yaml")
    document = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "trt-detect-abcde"},
        "spec": cluster(manifest),
    }
    assert validation_errors(schema, document) == []


# -- KubeRay's admission rules that a schema cannot express (ray-operator utils/validation.go) --
def test_kuberay_validation_rules(manifest: dict[str, Any]) -> None:
    name = manifest["metadata"]["name"]
    assert DNS1035.match(name) and len(name) <= MAX_RAYSERVICE_NAME
    spec = manifest["spec"]
    assert spec.get("upgradeStrategy", {}).get("type", "NewCluster") in {
        "NewCluster",
        "NewClusterWithIncrementalUpgrade",
        "None",
    }
    assert spec.get("rayClusterDeletionDelaySeconds", 0) >= 0
    head = cluster(manifest)["headGroupSpec"]
    assert not head.get("headService", {}).get("metadata", {}).get("name"), "RayService forbids headService name"
    seen: set[str] = set()
    for group_name, group in groups(manifest):
        assert group_name not in seen, f"duplicate worker group {group_name}"
        seen.add(group_name)
        assert group["template"]["spec"]["containers"], f"{group_name}: no containers"
        params = group.get("rayStartParams", {})
        if group.get("resources"):
            conflicting = {"num-cpus", "num-gpus", "memory", "resources"} & set(params)
            assert not conflicting, f"{group_name}: resources set in both rayStartParams and resources"
        assert "labels" not in params, f"{group_name}: use the group's labels field, not rayStartParams"
        if group_name != "head":
            assert 0 <= group["minReplicas"] <= group.get("replicas", group["minReplicas"]) <= group["maxReplicas"]
    autoscaler = cluster(manifest).get("autoscalerOptions", {})
    assert autoscaler.get("idleTimeoutSeconds", 0) >= 0


def test_containers_are_sized_and_unprivileged(manifest: dict[str, Any]) -> None:
    images = set()
    for group_name, group in groups(manifest):
        pod = group["template"]["spec"]
        container = ray_container(group)
        images.add(container["image"])
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        for resource in ("cpu", "memory"):
            assert quantity(requests[resource]) == quantity(limits[resource]), f"{group_name}: {resource} req != lim"
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        # KubeRay injects raylet/GCS/Serve-proxy probes only into Ray containers that set none.
        assert "livenessProbe" not in container and "readinessProbe" not in container, group_name
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert ports.get("serve") == 8000, f"{group_name}: the serve port must be named 'serve'"
    assert len(images) == 1, f"one image for every Ray pod, got {images}"


# -- placement: the overlay's resource requests against the worker groups -------------------
def test_placement_contract(manifest: dict[str, Any], serve_config: dict[str, Any]) -> None:
    deployments = app_deployments(serve_config)
    head = cluster(manifest)["headGroupSpec"]
    cpu, gpu = worker_group(manifest, "cpu-workers"), worker_group(manifest, "gpu-workers")
    cpu_ray = {k: quantity(v) for k, v in cpu["resources"].items()}
    cpu_limits = ray_container(cpu)["resources"]["limits"]
    gpu_limits = ray_container(gpu)["resources"]["limits"]

    # The head schedules no replicas.
    head_cpus = head.get("resources", {}).get("CPU", head.get("rayStartParams", {}).get("num-cpus"))
    assert head_cpus is not None and quantity(head_cpus) == 0

    # The GPU stage: one GPU per replica, only on GPU pods (no custom resource they lack).
    detector = deployments["Detector"]["ray_actor_options"]
    assert detector["num_gpus"] == 1 and not detector.get("resources")
    assert quantity(gpu_limits["nvidia.com/gpu"]) >= 1
    assert detector["num_cpus"] <= quantity(gpu_limits["cpu"])
    assert "cpu_worker" not in gpu.get("resources", {})
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["template"]["spec"][
        "tolerations"
    ]
    assert deployments["Detector"]["autoscaling_config"]["max_replicas"] <= gpu["maxReplicas"]
    assert serve_config["applications"][0]["args"]["detector_cpus"] == detector["num_cpus"]

    # The CPU stages: they ask for cpu_worker, which only the CPU pods have, and no GPU.
    assert "nvidia.com/gpu" not in cpu_limits
    needed_cpus = 0.0
    for name in ("Ingress", "Preprocess", "Postprocess"):
        options = deployments[name]["ray_actor_options"]
        assert options["resources"] == {"cpu_worker": 1}, name
        assert not options.get("num_gpus"), name
        autoscaling = deployments[name].get("autoscaling_config")
        minimum = autoscaling["min_replicas"] if autoscaling else deployments[name]["num_replicas"]
        maximum = autoscaling["max_replicas"] if autoscaling else minimum
        needed_cpus += minimum * options["num_cpus"]
        # the group at its maximum size can hold every replica at its maximum
        assert maximum * options["resources"]["cpu_worker"] <= cpu_ray["cpu_worker"] * cpu["maxReplicas"], name
    assert needed_cpus <= quantity(cpu_limits["cpu"]) * cpu["minReplicas"], "min replicas must fit the min pods"


def test_serve_config_app_args(serve_config: dict[str, Any]) -> None:
    from deployments.config import AppArgs, DetectorUserConfig, PostprocessUserConfig

    (app,) = serve_config["applications"]
    args = AppArgs.model_validate(app["args"])
    assert (args.backend, args.device) == ("tensorrt", "gpu")
    deployments = app_deployments(serve_config)
    # user_config would override the args above on every deploy; only live tuning sets it
    for name, model in (("Detector", DetectorUserConfig), ("Postprocess", PostprocessUserConfig)):
        if "user_config" in deployments[name]:
            model.model_validate(deployments[name]["user_config"])


def test_serve_config_validates_and_builds_the_app(serve_config: dict[str, Any], tiny_model: Path) -> None:
    """Serve's own schema, then the app built the way the Serve controller builds it (the
    builder imported from import_path, args converted to AppArgs), with device gpu on a machine
    without GPUs, and every deployment override applied with Deployment.options()."""
    from ray._common.utils import import_attr
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve._private.build_app import build_app
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(serve_config)
    (app_schema,) = schema.applications
    assert app_schema.name == "detector"
    (app,) = serve_config["applications"]
    args = {**app["args"], "model": str(tiny_model)}  # model null = the bundled demo model inside the image
    application = call_user_app_builder_with_args_if_necessary(import_attr(app["import_path"]), args)
    built = build_app(application, name=app["name"], default_runtime_env={})
    by_name = {d.name: d for d in built.deployments}
    assert built.ingress_deployment_name == "Ingress"
    assert set(by_name) == set(app_deployments(serve_config))
    assert (by_name["Detector"].ray_actor_options or {}).get("num_gpus") == 1  # device: gpu, from the builder
    for name, overrides in app_deployments(serve_config).items():
        options = {k: v for k, v in overrides.items() if k != "name"}
        deployment = by_name[name].options(**options)
        assert deployment.ray_actor_options == overrides.get("ray_actor_options", by_name[name].ray_actor_options)


# -- the other manifests and the image -------------------------------------------------------
def test_engine_cache_volume(manifest: dict[str, Any]) -> None:
    pvc = yaml.safe_load((K8S / "engine-cache-pvc.yaml").read_text())
    assert (pvc["apiVersion"], pvc["kind"]) == ("v1", "PersistentVolumeClaim")
    assert DNS1035.match(pvc["metadata"]["name"])
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    assert quantity(pvc["spec"]["resources"]["requests"]["storage"]) >= 2**30

    gpu = worker_group(manifest, "gpu-workers")
    volumes = {v["name"]: v for v in gpu["template"]["spec"]["volumes"]}
    container = ray_container(gpu)
    (mount,) = [m for m in container["volumeMounts"] if volumes[m["name"]].get("persistentVolumeClaim")]
    assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    try:
        from trt_core.trt.cache import CACHE_ENV
    except ImportError:  # the TensorRT package is optional; the variable is the contract
        CACHE_ENV = "TRT_DETECT_CACHE"
    env = {e["name"]: e.get("value") for e in container["env"]}
    cache_dir = env[CACHE_ENV]
    assert cache_dir == mount["mountPath"] or cache_dir.startswith(mount["mountPath"].rstrip("/") + "/")
    assert gpu["template"]["spec"]["securityContext"]["fsGroup"] is not None  # volume writable by the ray user


def test_all_manifests_parse() -> None:
    kinds = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "overlay.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            assert document["apiVersion"] and document["kind"] and document["metadata"]["name"], path
            kinds[document["kind"]] = path.name
    assert kinds == {"RayService": "rayservice.yaml", "PersistentVolumeClaim": "engine-cache-pvc.yaml"}


def test_dockerfile_matches_the_manifest(manifest: dict[str, Any]) -> None:
    text = (K8S / "Dockerfile").read_text()
    ray_version = cluster(manifest)["rayVersion"]
    base = re.search(r"^ARG RAY_IMAGE=(\S+)$", text, re.M)
    pinned = re.search(r"^ARG RAY_VERSION=(\S+)$", text, re.M)
    assert base and pinned
    assert base.group(1) == f"rayproject/ray:{ray_version}-py311-gpu"
    assert pinned.group(1) == ray_version
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert "'.[serve,gpu]'" in text or '".[serve,gpu]"' in text
    assert (K8S / "Dockerfile.dockerignore").is_file()


def test_docs_name_the_service(manifest: dict[str, Any]) -> None:
    docs = (REPO / "docs" / "kubernetes.md").read_text()
    assert f"svc/{manifest['metadata']['name']}-serve-svc" in docs
    assert "python k8s/render.py" in docs
