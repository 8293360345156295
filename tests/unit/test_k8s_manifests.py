"""deploy/k8s renders, and what it renders is what a cluster accepts and what the services need.

Both overlays are built with the real `kustomize` (installed by scripts/bootstrap.sh into
.helicase/bin) and every object is validated offline, strictly (unknown fields are errors),
against the Kubernetes OpenAPI schemas that `kubernetes-validate` ships. No cluster and no
container engine are needed; the image's entry points are checked against the workspace.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZE = ROOT / ".helicase" / "bin" / "kustomize"
KUBERNETES_VERSION = "1.31.0"  # the oldest version the manifests promise to fit
OVERLAYS = ("dev", "prod")
SERVICE_COMMANDS = {
    "helicase-api",
    "helicase-scheduler",
    "helicase-controller",
    "helicase-participant",
    "helicase-sink",
}

LISTEN_VARIABLE = {
    "helicase-api": "HELICASE_API_ADDR",
    "helicase-scheduler": "HELICASE_SCHEDULER_ADDR",
    "helicase-controller": "HELICASE_CONTROLLER_HEALTH_ADDR",  # its gRPC port is mutual TLS
    "helicase-participant": "HELICASE_PARTICIPANT_ADDR",
    "helicase-sink": "HELICASE_SINK_ADDR",
}

WEB_STAGE = "web"  # the Dockerfile's Node stage that builds the composer (web/dist)
AIRAVATA_MODULE = "helicase.participant.airavata"

Obj = dict[str, Any]


def render(overlay: str) -> list[Obj]:
    return build(prepared_tree() / "overlays" / overlay)


@functools.cache
def prepared_tree() -> Path:
    """A copy of deploy/k8s as an operator has it before building: the dev overlay's
    secrets.env written by scripts/k8s_secrets.py (it is never committed). Removed at exit."""
    home = Path(tempfile.mkdtemp(prefix="helicase-k8s-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    tree = home / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env"))
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "k8s_secrets.py"), "--out",
         str(tree / "overlays" / "dev" / "secrets.env")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return tree


def build(kustomization: Path) -> list[Obj]:
    assert KUSTOMIZE.exists(), "kustomize missing: run `make install`"
    out = subprocess.run(
        [str(KUSTOMIZE), "build", str(kustomization)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    return request.param, render(request.param)


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def helicase_containers(objs: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for name, deployment in of_kind(objs, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield name, container


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9, "": 1}


def quantity_bytes(raw: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]i?)?", raw)
    assert match, f"unparsed memory quantity {raw!r}"
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


# --- the schemas


def test_every_object_is_valid_against_the_kubernetes_schemas(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    assert len(objs) > 10, f"{overlay}: only {len(objs)} objects rendered"
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{overlay}: {obj['kind']}/{obj['metadata']['name']}: {err.message}")


def test_every_namespaced_object_lands_in_the_overlays_namespace(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    (namespace,) = of_kind(objs, "Namespace")
    assert namespace == {"dev": "helicase-dev", "prod": "helicase"}[overlay]
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace, obj["metadata"]["name"]


# --- what every service's Deployment needs


def test_the_services_run_with_the_replicas_the_design_expects(
    rendered: tuple[str, list[Obj]],
) -> None:
    _, objs = rendered
    deployments = of_kind(objs, "Deployment")
    for name in ("api", "scheduler", "controller", "sink", "participant-default"):
        assert f"helicase-{name}" in deployments
    assert deployments["helicase-scheduler"]["spec"]["replicas"] == 2
    assert deployments["helicase-controller"]["spec"]["replicas"] == 2  # leader + standby


def test_every_container_has_grpc_health_probes_on_its_own_port(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    for name, container in helicase_containers(objs):
        ports = {p["containerPort"] for p in container.get("ports", [])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{overlay}: {name} has no {probe}"
            grpc = container[probe].get("grpc")
            assert grpc, f"{overlay}: {name}'s {probe} is not a gRPC health probe"
            assert grpc["port"] in ports, f"{overlay}: {name}'s {probe} checks a closed port"
        # The service listens where its probes knock, on every interface (or the pod's IP).
        listen = env_of(container)[LISTEN_VARIABLE[container["command"][0]]]["value"]
        host, _, port = listen.rpartition(":")
        assert host in {"0.0.0.0", "$(POD_IP)"}, f"{overlay}: {name} listens on {listen}"
        assert int(port) == container["livenessProbe"]["grpc"]["port"], f"{overlay}: {name}"


def test_every_pod_exposes_its_metrics_port_for_scraping(rendered: tuple[str, list[Obj]]) -> None:
    overlay, objs = rendered
    (config,) = (c for c in of_kind(objs, "ConfigMap").values() if "HELICASE_ZK" in c["data"])
    metrics_port = int(config["data"]["HELICASE_METRICS_ADDR"].rpartition(":")[2])
    for name, deployment in of_kind(objs, "Deployment").items():
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", f"{overlay}: {name}"
        assert annotations.get("prometheus.io/port") == str(metrics_port), f"{overlay}: {name}"
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports.get("metrics") == metrics_port, f"{overlay}: {name}"


def test_every_container_has_requests_and_a_memory_limit(rendered: tuple[str, list[Obj]]) -> None:
    overlay, objs = rendered
    for name, container in helicase_containers(objs):
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{overlay}: {name}"
        limit = quantity_bytes(resources.get("limits", {}).get("memory", "0"))
        assert limit >= quantity_bytes(resources["requests"]["memory"]) > 0, f"{overlay}: {name}"


def test_participants_take_the_pod_name_and_exit_below_their_memory_limit(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    participants = [(n, c) for n, c in helicase_containers(objs) if "participant" in n]
    assert participants
    for name, container in participants:
        assert container["command"] == ["helicase-participant"]
        env = env_of(container)
        source = env["HELICASE_PARTICIPANT_NAME"].get("valueFrom", {}).get("fieldRef", {})
        assert source.get("fieldPath") == "metadata.name", f"{overlay}: {name}"
        assert env["HELICASE_PARTICIPANT_TASK_TYPES"]["value"], f"{overlay}: {name}"
        watchdog = int(env["HELICASE_PARTICIPANT_MAX_RSS_MB"]["value"]) * 2**20
        limit = quantity_bytes(container["resources"]["limits"]["memory"])
        # The watchdog exits first, with room for the allocation that crossed it.
        assert 0 < watchdog <= 0.9 * limit, f"{overlay}: {name}: watchdog {watchdog} vs {limit}"


def test_the_prod_overlay_runs_one_participant_deployment_per_airavata_type() -> None:
    participants = {
        name: env_of(c)["HELICASE_PARTICIPANT_TASK_TYPES"]["value"]
        for name, c in helicase_containers(render("prod"))
        if "participant" in name
    }
    assert participants["helicase-participant-default"] == "noop,sleep"
    airavata = {n: t for n, t in participants.items() if t.startswith("airavata.")}
    assert len(airavata) >= 5
    assert all("," not in types for types in airavata.values())
    assert participants["helicase-participant-env-setup"] == "airavata.env_setup"


def shell_settings(objs: list[Obj]) -> dict[str, tuple[str, str]]:
    """Each participant Deployment's (task types, HELICASE_PARTICIPANT_ENABLE_SHELL)."""
    out: dict[str, tuple[str, str]] = {}
    for name, container in helicase_containers(objs):
        if container["command"] == ["helicase-participant"]:
            env = env_of(container)
            types = env["HELICASE_PARTICIPANT_TASK_TYPES"]["value"]
            out[name] = (types, env.get("HELICASE_PARTICIPANT_ENABLE_SHELL", {}).get("value", ""))
    return out


def test_shell_is_off_in_the_image_base_and_prod_and_on_only_in_the_dev_overlay() -> None:
    image_env = [
        arguments
        for instruction, arguments in dockerfile_stages((ROOT / "Dockerfile").read_text())[-1][1]
        if instruction == "ENV"
    ]
    assert "HELICASE_PARTICIPANT_ENABLE_SHELL=0" in " ".join(image_env).split()
    for where, objs in (("base", build(K8S / "base")), ("prod", render("prod"))):
        for name, (types, enabled) in shell_settings(objs).items():
            assert enabled in ("", "0") and "shell" not in types.split(","), f"{where}: {name}"
    dev = shell_settings(render("dev"))
    assert dev["helicase-participant-default"] == ("noop,sleep,shell", "1")


def test_every_deployment_has_a_disruption_budget(rendered: tuple[str, list[Obj]]) -> None:
    overlay, objs = rendered
    budgets = [
        b["spec"]["selector"]["matchLabels"] for b in of_kind(objs, "PodDisruptionBudget").values()
    ]
    for name, deployment in of_kind(objs, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [s for s in budgets if s.items() <= labels.items()]
        assert len(covering) == 1, f"{overlay}: {name} is covered by {len(covering)} budgets"


def test_the_autoscaler_targets_a_participant_deployment(rendered: tuple[str, list[Obj]]) -> None:
    _, objs = rendered
    deployments = of_kind(objs, "Deployment")
    autoscalers = of_kind(objs, "HorizontalPodAutoscaler")
    assert autoscalers
    for hpa in autoscalers.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert "participant" in hpa["spec"]["scaleTargetRef"]["name"]


def test_references_to_config_and_secrets_resolve(rendered: tuple[str, list[Obj]]) -> None:
    overlay, objs = rendered
    config_maps, secrets = of_kind(objs, "ConfigMap"), of_kind(objs, "Secret")
    secret_refs: set[str] = set()
    for kind in ("Deployment", "StatefulSet"):
        for name, workload in of_kind(objs, kind).items():
            for container in workload["spec"]["template"]["spec"]["containers"]:
                for source in container.get("envFrom", []):
                    assert source["configMapRef"]["name"] in config_maps, f"{overlay}: {name}"
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        secret_refs.add(ref["name"])
                        if overlay == "dev":
                            assert ref["key"] in secrets[ref["name"]]["data"], f"{name}: {ref}"
    if overlay == "dev":
        assert secret_refs <= set(secrets)
    else:  # prod: the operator creates it (docs/kubernetes.md); nothing secret is in the repo
        assert not secrets
        assert secret_refs == {"helicase-secrets"}
    api = next(c for n, c in helicase_containers(objs) if n == "helicase-api")
    assert {"HELICASE_DATABASE_URL", "HELICASE_CREDENTIAL_KEY"} <= set(env_of(api))


def test_the_dev_overlay_runs_its_own_infrastructure_and_prod_none() -> None:
    dev = of_kind(render("dev"), "StatefulSet")
    assert set(dev) == {"zookeeper", "kafka", "postgres"}
    kafka_env = env_of(dev["kafka"]["spec"]["template"]["spec"]["containers"][0])
    assert kafka_env["KAFKA_PROCESS_ROLES"]["value"] == "broker,controller"  # KRaft
    assert not of_kind(render("prod"), "StatefulSet")


# --- the image's entry points


def _console_scripts() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="console_scripts")}


def test_the_image_and_manifests_name_entry_points_that_exist_in_the_workspace() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    named = set(re.findall(r"\bhelicase(?:-[a-z]+)?\b", dockerfile)) & (
        SERVICE_COMMANDS | {"helicase"}
    )
    assert named >= SERVICE_COMMANDS, f"the Dockerfile names {sorted(named)}"
    for overlay in OVERLAYS:
        for _, container in helicase_containers(render(overlay)):
            named.add(container["command"][0])
    scripts = _console_scripts()
    for command in sorted(named):
        assert command in scripts, f"{command} is not a console script of the workspace"
        module, _, attr = scripts[command].partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), scripts[command]


def test_the_dockerfile_builds_a_slim_python_311_image_run_by_a_non_root_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    froms = [line.split() for line in lines if line.startswith("FROM ")]
    # Python stages (the install and the runtime image) on 3.11-slim; Node only builds web/dist.
    python = [f[1] for f in froms if f[-1] != WEB_STAGE]
    assert python and all(base.startswith("python:3.11-slim") for base in python)
    assert froms[-1][1].startswith("python:3.11-slim")  # the runtime image
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any("uv sync --frozen --no-dev" in line for line in lines)


def dockerfile_stages(dockerfile: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(FROM arguments, [(instruction, arguments)]) of each stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction == "FROM":
            stages.append((arguments.strip(), []))
        elif stages:
            stages[-1][1].append((instruction, arguments.strip()))
    return stages


def build_stage(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's first stage, continuation lines joined."""
    return dockerfile_stages(dockerfile)[0][1]


def test_the_images_install_step_gives_every_entry_point_outside_the_source_tree(
    tmp_path: Path,
) -> None:
    """Replays the build stage (its COPY and `uv sync` steps, from uv's cache) without a
    container engine: the non-editable install must hold every service, with data files such as
    the Alembic migrations, importable from anywhere."""
    steps = build_stage((ROOT / "Dockerfile").read_text())
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    for instruction, arguments in steps:
        if instruction == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(arguments)))
        elif instruction == "COPY":
            *sources, _dest = arguments.split()
            for source in sources:
                path = ROOT / source.rstrip("/")
                target = src / source.rstrip("/")
                if path.is_dir():
                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(path, target)
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    syncs = [a for i, a in steps if i == "RUN" and a.startswith("uv sync")]
    assert syncs, "the Dockerfile no longer installs the workspace with uv sync"
    for command in syncs:
        done = subprocess.run(
            shlex.split(command), cwd=src, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
    for command in sorted(SERVICE_COMMANDS | {"helicase"}):
        assert (venv / "bin" / command).exists(), command
    probe = (
        "import os, helicase.api.migrations as m; "
        "import helicase.scheduler.__main__, helicase.controller.__main__, "
        "helicase.participant.__main__, helicase.sink.__main__, helicase.cli.__main__; "
        "assert 'script.py.mako' in os.listdir(os.path.dirname(m.__file__)); print(m.__file__)"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(venv)), done.stdout


# --- the composer on the api's HTTP port, the internal token, the Airavata participants


def test_the_api_serves_the_composer_and_connect_on_its_http_port(
    rendered: tuple[str, list[Obj]],
) -> None:
    overlay, objs = rendered
    api = next(c for n, c in helicase_containers(objs) if n == "helicase-api")
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    listen = env_of(api)["HELICASE_WEB_ADDR"]["value"]
    host, _, port = listen.rpartition(":")
    assert host == "0.0.0.0" and int(port) == ports["http"], f"{overlay}: {listen} vs {ports}"
    service = of_kind(objs, "Service")["helicase-api"]
    http = [p for p in service["spec"]["ports"] if p["name"] == "http"]
    assert len(http) == 1 and http[0]["targetPort"] in ("http", ports["http"]), overlay


TLS_DIR = "/etc/helicase/tls"
CERT_MANAGER = K8S / "cert-manager" / "internal-plane.yaml"


def test_every_component_mounts_its_certificate_of_the_internal_plane(
    rendered: tuple[str, list[Obj]],
) -> None:
    """Each pod mounts its certificate where HELICASE_TLS_* point: a Secret per component kind,
    and per participant pod one issued by cert-manager's csi-driver naming the pod and the
    Deployment's group. No shared internal token is left anywhere."""
    overlay, objs = rendered
    (config,) = (c for c in of_kind(objs, "ConfigMap").values() if "HELICASE_ZK" in c["data"])
    assert {k: v for k, v in config["data"].items() if k.startswith("HELICASE_TLS_")} == {
        "HELICASE_TLS_CA": f"{TLS_DIR}/ca.crt",
        "HELICASE_TLS_CERT": f"{TLS_DIR}/tls.crt",
        "HELICASE_TLS_KEY": f"{TLS_DIR}/tls.key",
    }
    for name, deployment in of_kind(objs, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        env = env_of(container)
        assert "HELICASE_INTERNAL_TOKEN" not in env, f"{overlay}: {name}"
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == TLS_DIR]
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        if container["command"][0] == "helicase-participant":
            group = env["HELICASE_PARTICIPANT_GROUP"]["value"]
            attributes = volume["csi"]["volumeAttributes"]
            assert volume["csi"]["driver"] == "csi.cert-manager.io", f"{overlay}: {name}"
            uri = f"helicase://participant/{group}/${{POD_NAME}}"
            assert attributes["csi.cert-manager.io/uri-sans"] == uri, f"{overlay}: {name}"
            assert env["HELICASE_PARTICIPANT_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
                "metadata.name"
            )
        else:
            kind = container["command"][0].removeprefix("helicase-")
            assert volume["secret"]["secretName"] == f"helicase-tls-{kind}", f"{overlay}: {name}"


def test_the_cert_manager_example_issues_every_secret_the_components_mount() -> None:
    docs = [d for d in yaml.safe_load_all(CERT_MANAGER.read_text()) if d]
    certificates = {d["spec"]["secretName"]: d["spec"] for d in docs if d["kind"] == "Certificate"}
    issuers = {d["metadata"]["name"] for d in docs if d["kind"] == "Issuer"}
    for kind in ("api", "controller", "scheduler", "sink"):
        spec = certificates[f"helicase-tls-{kind}"]
        assert spec["uris"] == [f"helicase://{kind}/{kind}"]
        assert spec["dnsNames"] == [f"{kind}.helicase.internal"]
        assert {"server auth", "client auth"} <= set(spec["usages"])
        assert spec["issuerRef"]["name"] in issuers
    # The participants' csi-driver volumes name this example's CA issuer.
    objs = render("prod")
    for name, deployment in of_kind(objs, "Deployment").items():
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "csi" in volume:
                issuer = volume["csi"]["volumeAttributes"]["csi.cert-manager.io/issuer-name"]
                assert issuer in issuers, name


def test_the_airavata_participants_serve_exactly_the_types_their_module_registers() -> None:
    """Each airavata Deployment imports a module that registers its type (as the participant
    does at start, refusing unknown types), and every type of the library has a Deployment:
    CancelExperiment's cleanup workflow needs airavata.cancel_job served."""
    from helicase.participant.airavata import TYPES
    from helicase.participant.sdk import TASK_TYPES

    served: dict[str, str] = {}
    for name, container in helicase_containers(render("prod")):
        env = env_of(container)
        types = env.get("HELICASE_PARTICIPANT_TASK_TYPES", {}).get("value", "").split(",")
        if not types[0].startswith("airavata."):
            continue
        modules = env["HELICASE_PARTICIPANT_MODULES"]["value"].split(",")
        assert modules == [AIRAVATA_MODULE], f"{name}: {modules}"
        for module in modules:
            importlib.import_module(module)
        for task_type in types:
            assert task_type in TASK_TYPES, f"{name} serves {task_type}, which no module registers"
            served[task_type] = name
    assert set(served) == set(TYPES), sorted(set(TYPES) ^ set(served))
    assert served["airavata.cancel_job"] == "helicase-participant-cancel-job"


def test_the_image_carries_the_composer_built_by_a_node_stage_where_the_api_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Node stage builds web/ as web/package.json says; the runtime image copies its dist and
    points HELICASE_WEB_DIST (the variable helicase.api.web reads) at it; .dockerignore lets web/
    into the build context, without its node_modules and dist."""
    stages = dockerfile_stages((ROOT / "Dockerfile").read_text())
    (web,) = [steps for head, steps in stages if head.split()[-1] == WEB_STAGE]
    assert stages[-1][0].startswith("python:3.11-slim")
    workdir = next(a for i, a in web if i == "WORKDIR")
    runs = [a for i, a in web if i == "RUN"]
    assert runs == ["npm ci --no-audit --no-fund", "npm run build"]
    scripts = json.loads((ROOT / "web" / "package.json").read_text())["scripts"]
    assert "vite build" in scripts["build"]
    copies = [a.split() for i, a in web if i == "COPY"]
    assert copies[0] == ["web/package.json", "web/package-lock.json", "./"]
    assert copies[-1] == ["web/", "./"]

    runtime = stages[-1][1]
    (copy_dist,) = [a.split() for i, a in runtime if i == "COPY" and f"--from={WEB_STAGE}" in a]
    _, source, dest = copy_dist
    assert source == posixpath.join(workdir, "dist"), source  # vite's outDir
    env = " ".join(a for i, a in runtime if i == "ENV")
    assert f"HELICASE_WEB_DIST={dest}" in shlex.split(env)

    from helicase.api import web as api_web
    from helicase.api.config import ApiConfig

    monkeypatch.setenv("HELICASE_WEB_DIST", dest)
    assert api_web.default_dist(ApiConfig.from_env().web_dist) == Path(dest)

    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "web" not in ignored and {"web/node_modules", "web/dist"} <= set(ignored)
    assert (ROOT / "web" / "package-lock.json").is_file() and (ROOT / "web" / "src").is_dir()
