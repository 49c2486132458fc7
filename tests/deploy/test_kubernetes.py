"""deploy/kubernetes/*.yaml and deploy/Containerfile, which no test runs on a
cluster or builds here: their commands are hurtle's real options, and their
numbers agree with each other."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from deploy_tools import DEPLOY
from hurtle.cli import parse_flags
from hurtle.config import Config


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / name).read_text())
    return document


def hurtle_config(command: list[str]) -> Config:
    """The Config hurtle would run with for `command` (argv), or an error."""
    assert command[0] == "hurtle"
    flags = parse_flags(command[1:])
    return Config(**flags)


def test_the_deployment_drains_within_its_grace_period() -> None:
    pod = load("kubernetes/deployment.yaml")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = hurtle_config(container["command"])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # SIGKILL comes terminationGracePeriodSeconds after the preStop hook starts:
    # the sleep and the whole drain must fit, with room for lifespan shutdown.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + config.timeout_graceful_shutdown + 5
    assert config.host == "0.0.0.0"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": config.port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe


def test_the_service_selects_the_deployments_pods() -> None:
    deployment, service = load("kubernetes/deployment.yaml"), load("kubernetes/service.yaml")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    names = {port["name"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= names


def test_the_container_image_runs_hurtle_with_valid_options() -> None:
    recipe = (DEPLOY / "Containerfile").read_text()
    match = re.search(r"^CMD (\[.*\])$", recipe, re.MULTILINE)
    assert match, "the Containerfile's CMD is not in exec form"
    config = hurtle_config(json.loads(match.group(1)))
    exposed = re.search(r"^EXPOSE (\d+)$", recipe, re.MULTILINE)
    assert exposed and int(exposed.group(1)) == config.port
    assert config.host == "0.0.0.0"
