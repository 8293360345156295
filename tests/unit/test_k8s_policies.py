"""The production posture of deploy/k8s, read from what both overlays render (kustomize, as in
test_k8s_manifests): default-deny network policies with only the api reachable from outside the
namespace and PostgreSQL out of the participants' reach, Pod Security "restricted" enforced on
the namespace and met by every pod, the dev ZooKeeper's four-letter words limited, and no secret
value in the repository."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.unit.test_k8s_manifests import K8S, ROOT, Obj, of_kind, render, rendered

__all__ = ["rendered"]  # the fixture: each overlay, rendered once per module
HELICASE = {
    "helicase-api",
    "helicase-scheduler",
    "helicase-controller",
    "helicase-sink",
    "helicase-participant",
}
SECRET_KEYS = {"HELICASE_DATABASE_URL", "HELICASE_CREDENTIAL_KEY", "HELICASE_ADMIN_TOKEN"}


def pods(objs: list[Obj]) -> dict[str, Obj]:
    """Each workload's pod template, by the value of its app.kubernetes.io/name label."""
    found = {}
    for kind in ("Deployment", "StatefulSet"):
        for name, workload in of_kind(objs, kind).items():
            labels = workload["spec"]["template"]["metadata"]["labels"]
            found[f"{labels['app.kubernetes.io/name']}/{name}"] = workload["spec"]["template"]
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector matches `labels` (matchLabels and In/NotIn/Exists)."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, op, values = expression["key"], expression["operator"], expression.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
    return True


def peer_allows(peer: dict[str, Any], labels: dict[str, str] | None) -> bool:
    """Whether a from/to peer admits a pod of this namespace with `labels` (None: a client
    outside the namespace, e.g. the internet or another namespace's pod)."""
    if "ipBlock" in peer:
        return True  # an address range: anything, inside or out
    if "namespaceSelector" in peer:
        return labels is None  # another namespace (kube-system's DNS, monitoring)
    return labels is not None and selects(peer.get("podSelector", {}), labels)


def allowed(
    objs: list[Obj], direction: str, target: dict[str, str], peer: dict[str, str] | None, port: int
) -> bool:
    """Whether the policies let traffic on `port` in to (`ingress`) or out of (`egress`) a pod
    labelled `target`, from or to `peer` (see peer_allows). As in Kubernetes, a pod that no
    policy of that direction selects is open."""
    key = "from" if direction == "ingress" else "to"
    selected = False
    for policy in of_kind(objs, "NetworkPolicy").values():
        spec = policy["spec"]
        if direction.capitalize() not in spec["policyTypes"] or not selects(
            spec["podSelector"], target
        ):
            continue
        selected = True
        for rule in spec.get(direction, []):
            peers = rule.get(key)
            if peers is not None and not any(peer_allows(p, peer) for p in peers):
                continue
            ports = rule.get("ports")
            if ports is None or any(p.get("port") == port for p in ports):
                return True
    return not selected


def app(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def test_every_pod_is_under_a_default_deny_both_ways(rendered: tuple[str, list[Obj]]) -> None:
    overlay, objs = rendered
    deny = [
        p["spec"]
        for p in of_kind(objs, "NetworkPolicy").values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, overlay
    for name in pods(objs):
        assert not allowed(objs, "ingress", app(name.split("/")[0]), None, 12345), name


def test_only_the_api_is_reachable_from_outside_the_namespace(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    for name, pod in pods(objs).items():
        labels = pod["metadata"]["labels"]
        for container in pod["spec"]["containers"]:
            for port in container.get("ports", []):
                number = port["containerPort"]
                outside = allowed(objs, "ingress", labels, None, number)
                public = name.startswith("helicase-api/") and number in (50051, 8080)
                scraped = port["name"] == "metrics"  # from the monitoring namespace only
                assert outside == (public or scraped), f"{overlay}: {name}:{number}"
    # The api's internal listener: the components, never the outside.
    api = app("helicase-api")
    assert not allowed(objs, "ingress", api, None, 50061)
    for caller in ("helicase-scheduler", "helicase-sink", "helicase-participant"):
        assert allowed(objs, "ingress", api, app(caller), 50061), caller
        assert allowed(objs, "egress", app(caller), api, 50061), caller
    assert not allowed(objs, "ingress", api, app("helicase-controller"), 50061)


def test_participants_reach_the_controller_kafka_and_ssh_but_not_postgres(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    participant, controller = app("helicase-participant"), app("helicase-controller")
    assert allowed(objs, "egress", participant, controller, 50052)
    assert allowed(objs, "ingress", controller, participant, 50052)
    for port in (9092, 2181, 22):
        assert allowed(objs, "egress", participant, None, port), port
    assert not allowed(objs, "egress", participant, None, 5432), overlay
    assert allowed(objs, "egress", app("helicase-api"), None, 5432)
    for other in HELICASE - {"helicase-api"}:
        assert not allowed(objs, "egress", app(other), None, 5432), other
    if overlay == "dev":  # its own PostgreSQL takes the api alone
        postgres = app("postgres")
        assert allowed(objs, "ingress", postgres, app("helicase-api"), 5432)
        assert not allowed(objs, "ingress", postgres, participant, 5432)
        assert allowed(objs, "ingress", app("kafka"), participant, 9092)
        assert allowed(objs, "ingress", app("zookeeper"), controller, 2181)


def test_the_namespace_enforces_pod_security_restricted_and_every_pod_meets_it(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    (namespace,) = of_kind(objs, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, pod in pods(objs).items():
        spec = pod["spec"]
        pod_context = spec.get("securityContext", {})
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        assert not any("hostPath" in v for v in spec.get("volumes", [])), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container.get("securityContext", {})
            where = f"{overlay}: {name}/{container['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            assert context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, where
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
            assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert not context.get("privileged"), where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert set(context.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}


def test_the_dev_zookeeper_serves_only_ruok_and_srvr_and_no_admin_server() -> None:
    (zookeeper,) = [
        c
        for pod in pods(render("dev")).values()
        for c in pod["spec"]["containers"]
        if c["name"] == "zookeeper"
    ]
    env = {e["name"]: e.get("value") for e in zookeeper["env"]}
    assert env["ZOO_4LW_COMMANDS_WHITELIST"] == "ruok,srvr"
    assert env["ZOO_ADMINSERVER_ENABLED"] == "false"


def test_no_secret_value_is_committed() -> None:
    dev = yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())
    for generator in dev.get("secretGenerator", []):
        assert not generator.get("literals"), generator["name"]
        assert generator["envs"] == ["secrets.env"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/k8s/overlays/dev/secrets.env"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, "secrets.env must be ignored by git"
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/k8s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for path in tracked:
        text = (ROOT / path).read_text()
        for key in SECRET_KEYS:
            assert f"{key}=" not in text, f"{path} sets {key}"
    # What an operator builds carries every key the services read (scripts/k8s_secrets.py).
    dev_secrets = of_kind(render("dev"), "Secret")
    assert set(next(iter(dev_secrets.values()))["data"]) >= SECRET_KEYS
