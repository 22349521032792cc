"""deploy/: manifests validated offline against the Kubernetes schemas, and checked
against what the server really does (flags, health names, metric names, drain time)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
BIN = Path(sys.executable).parent
# Kinds kubernetes-validate has no schema for (CRDs and kustomize's own file).
UNSCHEMED = {"ServiceMonitor", "Kustomization"}


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _manifests() -> dict[str, dict]:
    out = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in _docs(path):
            out[f"{path.relative_to(K8S)}:{doc['kind']}"] = doc
    return out


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_manifests_pass_strict_schema_validation(version: str) -> None:
    files = [p for p in sorted(K8S.rglob("*.yaml"))
             if not any(d["kind"] in UNSCHEMED for d in _docs(p))]
    assert len(files) >= 7  # the Secret is created out of band (test_no_known_secret_ships)
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", version,
                             *map(str, files)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(files), result.stdout


def test_strict_validation_can_fail(tmp_path: Path) -> None:
    bad = _docs(K8S / "gpu" / "deployment.yaml")[0]
    bad["spec"]["template"]["spec"]["terminationGracePeriod"] = 45  # misspelt
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


def test_kustomizations_list_every_manifest() -> None:
    common = {f"../common/{p.name}" for p in (K8S / "common").glob("*.yaml")}
    for variant in ("gpu", "cpu"):
        kustomization = _docs(K8S / variant / "kustomization.yaml")[0]
        assert set(kustomization["resources"]) == common | {"deployment.yaml"}


def test_no_known_secret_ships() -> None:
    """Before: common/secret.yaml held the token `change-me` and both kustomizations
    applied it. Now the Secret is created out of band and the pods require it."""
    for path in K8S.rglob("*.yaml"):
        assert all(doc.get("kind") != "Secret" for doc in _docs(path) if doc), path
    for variant in ("gpu", "cpu"):
        _, container = _container(variant)
        token = next(e for e in container["env"] if e["name"] == "SOLVERD_AUTH_TOKEN")
        assert token["valueFrom"]["secretKeyRef"]["optional"] is False


def _container(variant: str) -> tuple[dict, dict]:
    pod = _docs(K8S / variant / "deployment.yaml")[0]["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


@pytest.mark.parametrize("variant", ["gpu", "cpu"])
def test_deployment_matches_the_server(variant: str) -> None:
    from service.config import build_parser
    from service.server import LIVENESS

    pod, container = _container(variant)
    env = {e["name"]: e.get("value") for e in container["env"]}
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore
    flags = {a.dest.upper() for a in serve._actions}
    for name in env:
        if name.startswith("SOLVERD_"):
            assert name.removeprefix("SOLVERD_") in flags, name
    # Drain: preStop, then SIGTERM and the server's grace, all inside the pod's grace.
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + float(env["SOLVERD_GRACE_SECONDS"])
    grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == grpc_port
    assert container["livenessProbe"]["grpc"]["service"] == LIVENESS
    assert "service" not in container["readinessProbe"]["grpc"]
    # A drain must not look like a dead process to the liveness probe.
    live = container["livenessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > float(env["SOLVERD_GRACE_SECONDS"])
    gpu = container["resources"]["limits"].get("nvidia.com/gpu")
    if variant == "gpu":
        assert gpu == 1 and "--backend" in container["args"] and "gpu" in container["args"]
        assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    else:
        assert gpu is None and "nodeSelector" not in pod and "tolerations" not in pod


def _exported_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    import service.metrics  # noqa: F401  (registers the solverd_ metrics)

    names = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return {n for n in names if n.startswith("solverd_")}


def test_hpa_adapter_monitor_and_dashboard_use_real_metrics() -> None:
    exported = _exported_metric_names()
    manifests = _manifests()
    hpa = manifests["common/hpa.yaml:HorizontalPodAutoscaler"]
    hpa_metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert hpa_metric in exported
    rules = yaml.safe_load(manifests["common/prometheus-adapter-rules.yaml:ConfigMap"]["data"]
                           ["config.yaml"])["rules"]
    assert any(r["name"]["as"] == hpa_metric and r["seriesQuery"].startswith(hpa_metric)
               for r in rules)
    service = manifests["common/service.yaml:Service"]
    assert service["spec"]["clusterIP"] == "None"  # headless: client-side balancing
    monitor = manifests["common/servicemonitor.yaml:ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= \
        {p["name"] for p in service["spec"]["ports"]}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "solverd-dashboard.json").read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\bsolverd_[a-z_]+", target["expr"]))
    assert used and used <= exported, used - exported
    assert len(dashboard["panels"]) >= 10
