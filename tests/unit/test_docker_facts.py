"""The one Docker fact (`facts.docker`): what `docker inspect` printed -> containers or an error.

The inputs are shaped as the real commands answer: one JSON line per container from the
format template, and Docker CLI 28's stderr for a container removed between ``docker ps`` and
``docker inspect`` ("Error response from daemon: No such container: ID", exit 1). The
template itself runs against the real engine in the lab tests (tests/lab/test_faults_deploy.py).
"""

from __future__ import annotations

from nornir_homehub.connection import CommandResult
from nornir_homehub.facts.containers import parse_docker
from nornir_homehub.facts.docker import (
    CONTAINER_FORMAT,
    EXIT_NO_DOCKER,
    ContainerFact,
    containers_command,
    inspect_line,
    parse_containers,
)
from nornir_homehub.facts.legacy import legacy_containers
from nornir_homehub.facts.stacks import Health, stack_containers

SECRET_ENV = "WEBUI_SECRET_KEY=do-not-print-me"


def fact(name: str, **kw: object) -> ContainerFact:
    values: dict[str, object] = {
        "id": name * 8,
        "name": name,
        "state": "running",
        "exit_code": 0,
        "started_at": "2026-12-01T07:19:43.775623813Z",
        "health": "healthy",
        "restart_count": 0,
        "image": f"192.0.2.133:5000/homehub-standin/{name}:lab",
        "project": name,
        "service": name,
        "working_dir": f"/opt/stacks/{name}",
        "networks": {"frontend": "192.0.2.69"},
    }
    values.update(kw)
    return ContainerFact(**values)  # type: ignore[arg-type]


def test_the_template_never_asks_for_the_environment() -> None:
    assert "Env" not in CONTAINER_FORMAT and ".Config.Cmd" not in CONTAINER_FORMAT
    assert "{{json .Config.Labels}}" not in CONTAINER_FORMAT  # only Compose's own labels
    cmd = containers_command(label="com.docker.compose.project")
    assert "--filter label=com.docker.compose.project" in cmd
    assert "docker inspect --type container --format" in cmd


def test_lines_parse_into_every_view() -> None:
    out = "\n".join(
        [
            inspect_line(fact("litellm")),
            inspect_line(fact("qdrant", health=None, restart_count=2, state="restarting")),
        ]
    )
    docker = parse_containers(CommandResult("x", 0, out + "\n", ""))
    assert docker.error is None and docker.vanished == 0
    litellm, qdrant = stack_containers(docker)
    assert (litellm.name, litellm.health, litellm.ready) == ("litellm", Health.HEALTHY, True)
    assert (qdrant.health, qdrant.restart_count, qdrant.running) == (Health.NONE, 2, False)
    assert legacy_containers(docker)[0].working_dir == "/opt/stacks/litellm"
    facts = parse_docker(CommandResult("x", 0, out, ""))
    assert facts.networks["litellm"] == {"frontend": "192.0.2.69"}


def test_a_container_gone_between_ps_and_inspect_is_not_an_error() -> None:
    res = CommandResult(
        "x",
        1,
        inspect_line(fact("litellm")) + "\n",
        "Error response from daemon: No such container: 0123456789ab\n",
    )
    docker = parse_containers(res)
    assert docker.error is None
    assert [c.name for c in docker.containers] == ["litellm"] and docker.vanished == 1
    assert parse_docker(res).error is None


def test_no_container_at_all() -> None:
    docker = parse_containers(CommandResult("x", 0, "", ""))
    assert docker.containers == () and docker.error is None


def test_errors_never_carry_the_inspect_output() -> None:
    # Whatever stdout holds (another container's details), an error is built from stderr only.
    leaky = '{"id": "x", "env": "' + SECRET_ENV + '"}\n'
    for res in [
        CommandResult(
            "x",
            EXIT_NO_DOCKER,
            leaky,
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?\n",
        ),
        CommandResult("x", 1, leaky, "template: :1:2: executing at <.State>: boom\n"),
        CommandResult("x", 1, leaky, ""),
        CommandResult("x", 0, leaky + "not json\n", ""),
    ]:
        docker = parse_containers(res)
        assert docker.error, res
        assert SECRET_ENV not in docker.error and "do-not-print-me" not in docker.error
        assert SECRET_ENV not in str(parse_docker(res).error)
    daemon = parse_containers(CommandResult("x", EXIT_NO_DOCKER, "", "Cannot connect\n"))
    assert daemon.error == "Cannot connect"
