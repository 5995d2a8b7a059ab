"""The deployment files (systemd, container, Kubernetes) cannot drift from what ``make run`` runs.

They are generated from ``services.registry`` by ``deploy.manifests``; these tests check that the
files in the repository are what the generator makes now, and, reading the files themselves,
that every one runs the supervisor's commands and set-up steps, with the settings each process
reads, and probes that the processes really answer.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import manifests, supervisor
from deploy.manifests import ROOT
from services import registry
from services.chassis.metrics import MetricsServer, parse_bind
from services.chassis.settings import read_config
from services.conversations import smtp_edge

CHILDREN = {child.name: child for child in registry.CHILDREN}
PYTHON = f"{manifests.APP_DIR}/.venv/bin/python"


def text(path: str) -> str:
    return (ROOT / path).read_text()


def documents(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text(path)) if d]


def command_of(child: registry.Child) -> list[str]:
    """What the supervisor runs for ``child``, without the interpreter."""
    return dict(supervisor.CHILDREN)[child.name]


def test_the_files_in_the_repository_are_what_the_generator_makes() -> None:
    assert manifests.drift() == [], "run: python -m deploy.manifests"


def test_the_check_mode_names_a_stale_file(tmp_path: Path) -> None:
    assert manifests.write(tmp_path)  # an empty folder: everything is written
    assert manifests.drift(tmp_path) == []
    unit = tmp_path / "deploy/systemd/helpdesk-tickets.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=no"))
    assert manifests.drift(tmp_path) == ["deploy/systemd/helpdesk-tickets.service"]


@pytest.mark.parametrize("name", CHILDREN)
def test_each_systemd_unit_runs_the_supervisors_command_with_its_settings(name: str) -> None:
    unit = text(f"deploy/systemd/helpdesk-{name}.service")
    [exec_start] = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    assert shlex.split(exec_start) == [PYTHON, *command_of(CHILDREN[name])]
    environment = dict(line.split("=", 1) for line in re.findall(r"^Environment=(.*)$", unit, re.M))
    assert environment["HELPDESK_LOG_FORMAT"] == "json"
    assert "EnvironmentFile=/etc/helpdesk/helpdesk.env" in unit
    assert f"TimeoutStopSec={supervisor.STOP_GRACE:g}" in unit
    listen = manifests.listen_env(CHILDREN[name], "0.0.0.0")
    assert {k: environment[k] for k in listen} == listen


def test_the_setup_unit_job_and_entrypoint_run_the_supervisors_set_up_steps_in_order() -> None:
    steps = [args for _name, args in supervisor.SETUP_STEPS]
    unit = text("deploy/systemd/helpdesk-setup.service")
    assert [shlex.split(line)[1:] for line in re.findall(r"^ExecStart=(.*)$", unit, re.M)] == steps
    assert "Type=oneshot" in unit
    setup_line = re.search(r"^  setup\) (.*) ;;$", text("deploy/container/entrypoint.sh"), re.M)
    assert setup_line is not None
    assert [shlex.split(step)[1:] for step in setup_line.group(1).split(" && ")] == steps
    [job] = documents("deploy/kubernetes/setup-job.yaml")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["setup"]
    names = {entry["name"] for entry in container["env"]}
    assert {"AMQP_URI", "HELPDESK_IDENTITY_SECRET"} <= names
    assert {s.db_url_variable for s in registry.SERVICES if s.db_url_variable} <= names


def test_the_entrypoint_runs_each_process_as_the_supervisor_does() -> None:
    script = text("deploy/container/entrypoint.sh")
    cases = dict(re.findall(r"^  (\w+)\) exec python (.*) ;;$", script, re.M))
    assert set(cases) == set(CHILDREN)
    for name, command in cases.items():
        assert shlex.split(command) == command_of(CHILDREN[name])
    assert (ROOT / "deploy/container/entrypoint.sh").stat().st_mode & 0o111
    assert 'ENTRYPOINT ["/opt/helpdesk/deploy/container/entrypoint.sh"]' in text(
        "deploy/container/Dockerfile"
    )


def _settings(child: registry.Child) -> set[str]:
    """What the supervisor gives the child that it must also get elsewhere (no local paths)."""
    wanted = {"AMQP_URI"}
    if isinstance(child, registry.NamekoService):
        wanted.add("HELPDESK_IDENTITY_SECRET")
        if child.db_url_variable:
            wanted.add(child.db_url_variable)
    return wanted


@pytest.mark.parametrize("name", CHILDREN)
def test_each_kubernetes_deployment_has_its_command_settings_probes_and_replicas(name: str) -> None:
    child = CHILDREN[name]
    deployment, service = documents(f"deploy/kubernetes/{name.replace('_', '-')}.yaml")
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    assert deployment["spec"]["replicas"] == manifests.REPLICAS[name] >= 1
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == [name]  # the entrypoint runs the supervisor's command for it
    env = {entry["name"]: entry for entry in container["env"]}
    assert _settings(child) <= set(env)
    amqp = env["AMQP_URI"]["valueFrom"]["secretKeyRef"]
    assert amqp == {"name": "helpdesk-secrets", "key": f"amqp-uri-{name}"}
    for key, value in manifests.listen_env(child, "0.0.0.0").items():
        assert env[key]["value"] == value
    probe = manifests.probe(child)
    for kind, path in (("livenessProbe", probe.liveness), ("readinessProbe", probe.readiness)):
        action = container[kind]
        if path is None:
            assert action["tcpSocket"] == {"port": probe.port}
        else:
            assert action["httpGet"] == {"path": path, "port": probe.port}
    ports = {port["containerPort"] for port in container["ports"]}
    assert probe.port in ports
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(child.metrics_port or manifests.HTTP_PORT)
    assert int(annotations["prometheus.io/port"]) in ports


def test_the_example_secret_holds_every_key_the_manifests_read_with_a_uri_per_cluster_node() -> None:
    [secret] = documents("deploy/kubernetes/secrets.example.yaml")
    keys = set(secret["stringData"])
    for path in [
        "deploy/kubernetes/setup-job.yaml",
        *(f"deploy/kubernetes/{n.replace('_', '-')}.yaml" for n in CHILDREN),
    ]:
        for document in documents(path):
            if document["kind"] not in ("Deployment", "Job"):
                continue
            for container in document["spec"]["template"]["spec"]["containers"]:
                for entry in container.get("env", []):
                    if "valueFrom" in entry:
                        assert entry["valueFrom"]["secretKeyRef"]["key"] in keys
    for name in CHILDREN:
        uris = secret["stringData"][f"amqp-uri-{name}"].split(";")
        assert [uri.split("@")[1].split(":")[0] for uri in uris] == list(manifests.AMQP_NODES)


@pytest.mark.parametrize("name", CHILDREN)
def test_each_compose_service_runs_its_process_with_its_settings_and_health_check(name: str) -> None:
    [compose] = documents("deploy/container/compose.yaml")
    entry = compose["services"][name.replace("_", "-")]
    assert entry["command"] == [name]
    assert _settings(CHILDREN[name]) <= set(entry["environment"])
    assert entry["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    probe = manifests.probe(CHILDREN[name])
    check = entry["healthcheck"]["test"][-1]
    assert f"{probe.port}{probe.readiness or ''}" in check.replace("', ", "")
    assert compose["services"]["setup"]["command"] == ["setup"]


def test_the_probe_paths_are_ones_the_processes_answer() -> None:
    from gateway.routes.health import HealthRoutes

    urls = {
        e.url for member in vars(HealthRoutes).values() for e in getattr(member, "nameko_entrypoints", ())
    }
    gateway = manifests.probe(registry.GATEWAY)
    assert {gateway.liveness, gateway.readiness, "/metrics"} <= urls
    server = MetricsServer()
    server.container = type("C", (), {"extensions": []})()
    for service in registry.SERVICES:
        probe = manifests.probe(service)
        for path in (probe.liveness, probe.readiness, "/metrics"):
            answers: list[str] = []
            server.app({"PATH_INFO": path}, lambda status, headers, a=answers: a.append(status))
            assert answers == ["200 OK"], path


@pytest.mark.parametrize("service", registry.SERVICES, ids=lambda s: s.name)
def test_each_services_config_serves_metrics_on_the_port_the_registry_names(
    service: registry.NamekoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = manifests.metrics_variable(service)
    assert variable is not None
    monkeypatch.delenv(variable, raising=False)
    assert parse_bind(read_config(ROOT / service.config)["METRICS_BIND"]) == (
        "127.0.0.1",
        service.metrics_port,
    )
    monkeypatch.setenv(variable, "0.0.0.0:1234")
    assert read_config(ROOT / service.config)["METRICS_BIND"] == "0.0.0.0:1234"


def test_the_smtp_edge_serves_metrics_on_the_port_the_registry_names() -> None:
    variable = manifests.metrics_variable(registry.SMTP_EDGE)
    assert smtp_edge.settings_from_env({}).metrics_bind == f"127.0.0.1:{registry.SMTP_EDGE.metrics_port}"
    assert variable is not None
    assert smtp_edge.settings_from_env({variable: "0"}).metrics_bind == "0"


def test_metrics_ports_are_distinct() -> None:
    ports = [c.metrics_port for c in registry.CHILDREN if c.metrics_port]
    assert len(ports) == len(set(ports)) == len(registry.CHILDREN) - 1  # all but the gateway
