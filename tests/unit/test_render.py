"""Stack rendering: stacks/<service>/ + inventory -> the files a host gets. Pure, no network."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.cli import cli
from nornir_homehub.config import load_nornir
from nornir_homehub.errors import ConfigError, SecretError
from nornir_homehub.inventory import site_vars
from nornir_homehub.render import (
    RenderedStack,
    env_value,
    masked_secrets,
    render_host,
    render_stack,
    stacks_for_host,
)
from nornir_homehub.stackspec import load_stack, secret_names

PROD_CONFIG = ROOT / "config.yaml"
STACKS = ROOT / "stacks"
ALL_SECRETS = {
    "vault_webui_secret_key": "webui-Secret-1",
    "vault_qdrant_api_key": "qdrant-Secret-2",
    "vault_litellm_master_key": "sk-Secret-3",
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"rendering must not connect (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def render_all(config: Path, secrets: dict[str, str] | None = None) -> dict[str, RenderedStack]:
    nr = load_nornir(config)
    out = {}
    for host in nr.inventory.hosts.values():
        for rs in render_host(nr, host, STACKS, secrets or ALL_SECRETS):
            out[f"{host.name}/{rs.name}"] = rs
    return out


def compose(rs: RenderedStack) -> dict[str, Any]:
    doc = yaml.safe_load(rs.files[rs.compose_file].content)
    assert isinstance(doc, dict)
    return doc


def lab_vars(host: str = "trusted", models: list[Any] | None = None) -> dict[str, Any]:
    nr = load_nornir(LAB_CONFIG)
    if models is not None:
        nr.inventory.defaults.data["ollama_models"] = models
    return {**site_vars(nr, nr.inventory.hosts[host]), **ALL_SECRETS}


@pytest.fixture
def stacks_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "stacks"
    shutil.copytree(STACKS, dest)
    return dest


# -- which hosts get which files -------------------------------------------------------------

EXPECTED_FILES = {
    "litellm": [
        "/opt/stacks/litellm/compose.yaml",
        "/opt/stacks/litellm/.env.litellm",
        "/opt/stacks/litellm/config/config.yaml",
    ],
    "openwebui": ["/opt/stacks/openwebui/compose.yaml", "/opt/stacks/openwebui/.env.openwebui"],
    "ollama": ["/opt/stacks/ollama/compose.yaml", "/opt/stacks/ollama/.env.ollama"],
    "qdrant": ["/opt/stacks/qdrant/compose.yaml", "/opt/stacks/qdrant/.env.qdrant"],
    "monitoring": [
        "/opt/stacks/monitoring/compose.yaml",
        "/opt/stacks/monitoring/prometheus/prometheus.yml",
        "/opt/stacks/monitoring/prometheus/alerts.yml",
    ],
    "node-exporter": ["/opt/stacks/node-exporter/compose.yaml"],
}
EXPECTED_DIRS = {
    "litellm": ["/srv/docker/litellm/config"],
    "openwebui": ["/srv/docker/open-webui/data"],
    "ollama": ["/srv/docker/ollama/data"],
    "qdrant": ["/srv/docker/qdrant/storage"],
    "monitoring": ["/srv/docker/prometheus/data", "/srv/docker/node-exporter/textfile"],
    "node-exporter": ["/srv/docker/node-exporter/textfile"],
}
CONTAINERS = {
    "litellm": "litellm",
    "openwebui": "open-webui",
    "ollama": "ollama",
    "qdrant": "qdrant",
    "monitoring": ["prometheus", "node-exporter"],
    "node-exporter": "node-exporter",
}


@pytest.mark.parametrize(
    ("config", "hosts"),
    [
        (
            PROD_CONFIG,
            {
                "lxc-prod-2": ["litellm", "openwebui", "monitoring"],
                "srv-prod-1": ["ollama", "qdrant", "node-exporter"],
            },
        ),
        (
            LAB_CONFIG,
            {
                "trusted": ["litellm", "openwebui", "monitoring"],
                "compute": ["ollama", "qdrant", "node-exporter"],
            },
        ),
    ],
    ids=["production", "lab"],
)
def test_inventory_renders_the_guides_layout(config: Path, hosts: dict[str, list[str]]) -> None:
    rendered = render_all(config)
    assert sorted(rendered) == sorted(f"{h}/{s}" for h, stacks in hosts.items() for s in stacks)
    for key, rs in rendered.items():
        assert list(rs.files) == EXPECTED_FILES[rs.name], key
        assert [d.path for d in rs.data_dirs] == EXPECTED_DIRS[rs.name]
        assert rs.project_dir == f"/opt/stacks/{rs.name}"
        assert rs.compose_file == f"/opt/stacks/{rs.name}/compose.yaml"
        want = CONTAINERS[rs.name]
        assert list(rs.containers.values()) == (want if isinstance(want, list) else [want])
        # every template variable resolved: no Jinja left in any file (alerts.yml keeps
        # Prometheus's own `{{ $labels.x }}` / `{{ $value }}` annotation templates)
        for path, f in rs.files.items():
            text = f.content
            if path.endswith("/alerts.yml"):
                text = re.sub(rb"\{\{ \$[^}]*\}\}", b"", text)
            assert b"{{" not in text, path
            assert b"{%" not in text, path


@pytest.mark.parametrize(
    ("config", "images"),
    [
        (
            PROD_CONFIG,
            (
                "ghcr.io/berriai/litellm:",
                "ghcr.io/open-webui/open-webui:",
                "ollama/ollama:",
                "qdrant/qdrant:",
                "prom/prometheus:",
                "prom/node-exporter:",
            ),
        ),
        (
            LAB_CONFIG,
            (
                "192.0.2.133:5000/homehub-standin/litellm:lab",
                "192.0.2.133:5000/homehub-standin/openwebui:lab",
                "192.0.2.133:5000/homehub-standin/ollama:lab",
                "192.0.2.133:5000/homehub-standin/qdrant:lab",
                "homehub-lab/prometheus:lab",
                "homehub-lab/node-exporter:lab",
            ),
        ),
    ],
    ids=["production", "lab"],
)
def test_images_come_from_inventory(config: Path, images: tuple[str, ...]) -> None:
    rendered = render_all(config)
    used = {svc["image"] for rs in rendered.values() for svc in compose(rs)["services"].values()}
    assert len(used) == 6
    for prefix in images:
        assert any(u.startswith(prefix) for u in used), (prefix, used)
    if config == PROD_CONFIG:
        assert not any(u.endswith(":latest") or ":" not in u for u in used)


def test_a_digest_pinned_image_is_rendered_as_written(tmp_path: Path) -> None:
    from conftest import copy_lab_inventory

    config = copy_lab_inventory(tmp_path / "inv")
    defaults = config.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    pinned = "192.0.2.133:5000/homehub-standin/qdrant:lab@sha256:" + "5d" * 32
    doc["data"]["images"]["qdrant"] = pinned
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))
    used = {
        svc["image"]
        for rs in render_all(config).values()
        for svc in compose(rs)["services"].values()
    }
    assert pinned in used


# -- undefined variables ---------------------------------------------------------------------


def test_undefined_variable_names_template_and_variable(stacks_copy: Path) -> None:
    tpl = stacks_copy / "qdrant" / "env.qdrant.j2"
    tpl.write_text(tpl.read_text() + "EXTRA={{ qdrant_no_such_setting }}\n")
    spec = load_stack(stacks_copy, "qdrant")
    with pytest.raises(ConfigError) as exc:
        render_stack(spec, lab_vars("compute"))
    msg = str(exc.value)
    assert str(tpl) in msg
    assert "'qdrant_no_such_setting'" in msg
    assert "line 5" in msg
    assert "compute" in msg


def test_missing_inventory_key_names_template_and_key() -> None:
    variables = lab_vars("compute")
    variables["images"] = {"qdrant": "x"}  # no "ollama" entry
    with pytest.raises(ConfigError) as exc:
        render_stack(load_stack(STACKS, "ollama"), variables)
    assert "compose.yaml.j2" in str(exc.value)
    assert "'ollama'" in str(exc.value)


def test_missing_secret_is_a_secret_error_before_rendering() -> None:
    nr = load_nornir(LAB_CONFIG)
    partial = {k: v for k, v in ALL_SECRETS.items() if k != "vault_qdrant_api_key"}
    with pytest.raises(SecretError) as exc:
        render_host(nr, nr.inventory.hosts["compute"], STACKS, partial)
    assert "vault_qdrant_api_key" in str(exc.value)
    assert "compute" in str(exc.value)


# -- GPU, networks, extra_hosts, Traefik -----------------------------------------------------

GPU_RESERVATION = {
    "resources": {
        "reservations": {"devices": [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]}
    }
}


@pytest.mark.parametrize(
    ("gpu", "reserved"),
    [
        (None, False),
        ({"vendor": "nvidia", "model": "NVIDIA GeForce RTX 5060 Ti", "memory_mib": 16384}, True),
        ({}, True),
        ("nvidia", False),
        (True, False),
    ],
)
def test_gpu_reservation_only_when_gpu_is_a_mapping(gpu: Any, reserved: bool) -> None:
    variables = {**lab_vars("compute"), "gpu": gpu}
    svc = compose(render_stack(load_stack(STACKS, "ollama"), variables))["services"]["ollama"]
    assert svc.get("deploy") == (GPU_RESERVATION if reserved else None)


def test_production_compute_host_reserves_the_gpu_and_lab_does_not() -> None:
    prod = compose(render_all(PROD_CONFIG)["srv-prod-1/ollama"])["services"]["ollama"]
    lab = compose(render_all(LAB_CONFIG)["compute/ollama"])["services"]["ollama"]
    assert prod["deploy"] == GPU_RESERVATION
    assert "deploy" not in lab


@pytest.mark.parametrize(
    ("config", "trusted", "domain", "address"),
    [
        (PROD_CONFIG, "lxc-prod-2", "homehub.dk", "10.2.0.190"),
        (LAB_CONFIG, "trusted", "homehub.test", "192.0.2.132"),
    ],
    ids=["production", "lab"],
)
def test_extra_hosts_map_internal_names_to_the_compute_host(
    config: Path, trusted: str, domain: str, address: str
) -> None:
    rendered = render_all(config)
    for stack in ("litellm", "openwebui"):
        for svc in compose(rendered[f"{trusted}/{stack}"])["services"].values():
            assert svc["extra_hosts"] == [
                f"ollama.{domain}:{address}",
                f"qdrant.{domain}:{address}",
            ]


def test_extra_hosts_follow_the_compute_hosts_address() -> None:
    nr = load_nornir(LAB_CONFIG)
    nr.inventory.hosts["compute"].hostname = "192.0.2.140"
    rs = render_host(nr, nr.inventory.hosts["trusted"], STACKS, ALL_SECRETS, only=["openwebui"])[0]
    svc = compose(rs)["services"]["open-webui"]
    assert svc["extra_hosts"] == [
        "ollama.homehub.test:192.0.2.140",
        "qdrant.homehub.test:192.0.2.140",
    ]


@pytest.mark.parametrize("inventory_dir", [ROOT / "inventory", ROOT / "inventory" / "lab"])
def test_extra_hosts_are_never_typed_in_inventory(inventory_dir: Path) -> None:
    def keys(node: Any) -> set[str]:
        if isinstance(node, dict):
            return set(node) | {k for v in node.values() for k in keys(v)}
        if isinstance(node, list):
            return {k for v in node for k in keys(v)}
        return set()

    for name in ("hosts.yaml", "groups.yaml", "defaults.yaml"):
        data = yaml.safe_load((inventory_dir / name).read_text())
        assert {"extra_hosts", "ai_compute_ip"}.isdisjoint(keys(data)), name


SITES = {
    "production": (PROD_CONFIG, "lxc-prod-2", "homehub.dk", "websecure", True),
    "lab": (LAB_CONFIG, "trusted", "homehub.test", "web", False),
}
ROUTES = {
    "openwebui": ("open-webui", "openwebui", "chat", 8080),
    "litellm": ("litellm", "litellm", "openai", 4000),
}


@pytest.mark.parametrize("site", sorted(SITES))
@pytest.mark.parametrize("stack", sorted(ROUTES))
def test_trusted_stacks_route_through_traefik_and_authentik(site: str, stack: str) -> None:
    config, host, domain, entrypoint, tls = SITES[site]
    service, router, public, port = ROUTES[stack]
    rs = render_all(config)[f"{host}/{stack}"]
    doc = compose(rs)
    svc = doc["services"][service]
    labels = set(svc["labels"])
    r = f"traefik.http.routers.{router}"
    assert {
        "traefik.enable=true",
        f"{r}.rule=Host(`{public}.{domain}`)",
        f"{r}.entrypoints={entrypoint}",
        # authentik first; the retry resends a request that met a stopping container.
        f"{r}.middlewares=authentik@docker,{router}-retry@docker",
        f"traefik.http.middlewares.{router}-retry.retry.attempts=4",
        f"traefik.http.services.{router}.loadbalancer.server.port={port}",
    } <= labels
    assert (f"{r}.tls.certresolver=letsencrypt" in labels) is tls
    assert (f"{r}.tls=true" in labels) is tls
    assert svc["networks"] == ["frontend"]
    assert doc["networks"] == {"frontend": {"external": True}}
    assert "ports" not in svc


@pytest.mark.parametrize(("stack", "port"), [("ollama", 11434), ("qdrant", 6333)])
def test_compute_stacks_declare_no_network_and_publish_their_port(stack: str, port: int) -> None:
    for config, host in ((PROD_CONFIG, "srv-prod-1"), (LAB_CONFIG, "compute")):
        doc = compose(render_all(config)[f"{host}/{stack}"])
        assert "networks" not in doc
        (svc,) = doc["services"].values()
        assert "networks" not in svc
        assert "labels" not in svc
        assert svc["ports"] == [f"{port}:{port}"]


def test_lab_services_run_with_init_and_production_does_not() -> None:
    for config, expected in ((LAB_CONFIG, True), (PROD_CONFIG, None)):
        for rs in render_all(config).values():
            for svc in compose(rs)["services"].values():
                assert svc.get("init") is expected


# -- secrets and modes -----------------------------------------------------------------------


def test_env_files_are_0600_and_marked_secret_when_they_hold_one() -> None:
    for rs in render_all(LAB_CONFIG).values():
        for f in rs.files.values():
            if Path(f.path).name.startswith(".env"):
                assert f.mode == 0o600, f.path
            holds = any(v.encode() in f.content for v in ALL_SECRETS.values())
            assert f.secret is holds, f.path
            if f.secret:
                assert f.mode == 0o600


def test_secret_values_never_appear_in_repr_or_to_dict() -> None:
    for rs in render_all(LAB_CONFIG).values():
        text = repr(rs) + json.dumps(rs.to_dict())
        for value in ALL_SECRETS.values():
            assert value not in text


def test_secret_in_a_world_readable_file_is_refused_without_showing_it(stacks_copy: Path) -> None:
    tpl = stacks_copy / "litellm" / "config.yaml.j2"
    tpl.write_text(tpl.read_text() + "# {{ vault_litellm_master_key }}\n")
    with pytest.raises(ConfigError) as exc:
        render_stack(load_stack(stacks_copy, "litellm"), lab_vars("trusted"))
    assert "vault_litellm_master_key" in str(exc.value)
    assert "0644" in str(exc.value)
    assert ALL_SECRETS["vault_litellm_master_key"] not in str(exc.value)


@pytest.mark.parametrize(
    ("value", "written"),
    [("plain-Value_1.2", "plain-Value_1.2"), ("has $dollar and space", "'has $dollar and space'")],
)
def test_env_value_quotes_what_compose_would_interpret(value: str, written: str) -> None:
    assert env_value(value) == written


@pytest.mark.parametrize("value", ["it's", "two\nlines"])
def test_env_value_refuses_unquotable_values_without_showing_them(value: str) -> None:
    with pytest.raises(ConfigError) as exc:
        env_value(value)
    assert value not in str(exc.value)


def test_stacks_declare_the_secrets_they_use() -> None:
    specs = [load_stack(STACKS, n) for n in ("litellm", "openwebui", "ollama", "qdrant")]
    assert {s.name: set(s.secrets) for s in specs} == {
        "litellm": {"vault_litellm_master_key"},
        "openwebui": {"vault_webui_secret_key", "vault_qdrant_api_key"},
        "ollama": set(),
        "qdrant": {"vault_qdrant_api_key"},
    }
    assert secret_names(specs) == set(ALL_SECRETS)


# -- LiteLLM, Open WebUI, Qdrant, Ollama specifics -------------------------------------------


@pytest.mark.parametrize(
    ("config", "host", "domain"),
    [(PROD_CONFIG, "lxc-prod-2", "homehub.dk"), (LAB_CONFIG, "trusted", "homehub.test")],
    ids=["production", "lab"],
)
def test_litellm_config_serves_ollama_models_qwen_first(
    config: Path, host: str, domain: str
) -> None:
    rs = render_all(config)[f"{host}/litellm"]
    cfg = yaml.safe_load(rs.files["/opt/stacks/litellm/config/config.yaml"].content)
    first = cfg["model_list"][0]
    assert first["model_name"] == "qwen2.5-coder:14b"
    assert first["litellm_params"] == {
        "model": "ollama_chat/qwen2.5-coder:14b",
        "api_base": f"http://ollama.{domain}:11434",
    }
    assert cfg["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    env = rs.files["/opt/stacks/litellm/.env.litellm"].content.decode()
    assert f"LITELLM_MASTER_KEY={ALL_SECRETS['vault_litellm_master_key']}\n" in env
    svc = compose(rs)["services"]["litellm"]
    assert "./config/config.yaml:/app/config.yaml:ro" in svc["volumes"]


def test_litellm_lists_every_configured_model_in_order() -> None:
    variables = lab_vars(models=["qwen2.5-coder:14b", "llama3.1:8b"])
    rs = render_stack(load_stack(STACKS, "litellm"), variables)
    cfg = yaml.safe_load(rs.files["/opt/stacks/litellm/config/config.yaml"].content)
    assert [m["model_name"] for m in cfg["model_list"]] == ["qwen2.5-coder:14b", "llama3.1:8b"]


def test_only_the_mounted_litellm_config_restarts_litellm() -> None:
    rs = render_all(LAB_CONFIG)["trusted/litellm"]
    assert {p: f.restarts for p, f in rs.files.items()} == {
        "/opt/stacks/litellm/compose.yaml": (),
        "/opt/stacks/litellm/.env.litellm": (),
        "/opt/stacks/litellm/config/config.yaml": ("litellm",),
    }
    assert rs.restarts_for(["/opt/stacks/litellm/config/config.yaml"]) == ("litellm",)
    assert rs.restarts_for(["/opt/stacks/litellm/compose.yaml"]) == ()


def test_config_hash_changes_with_any_file() -> None:
    a = render_all(LAB_CONFIG)["trusted/litellm"]
    b = render_all(LAB_CONFIG)["trusted/litellm"]
    c = render_all(LAB_CONFIG, {**ALL_SECRETS, "vault_litellm_master_key": "other"})[
        "trusted/litellm"
    ]
    assert a.config_hash == b.config_hash
    assert a.config_hash != c.config_hash


def test_openwebui_has_no_oauth_and_reaches_ollama_by_internal_name() -> None:
    rs = render_all(PROD_CONFIG)["lxc-prod-2/openwebui"]
    env = rs.files["/opt/stacks/openwebui/.env.openwebui"].content.decode()
    assert "OLLAMA_BASE_URL=http://ollama.homehub.dk:11434\n" in env
    assert "OAUTH" not in env.upper().replace("NO OAUTH SETTINGS", "")
    assert f"WEBUI_SECRET_KEY={ALL_SECRETS['vault_webui_secret_key']}\n" in env


def test_qdrant_gets_its_api_key() -> None:
    rs = render_all(PROD_CONFIG)["srv-prod-1/qdrant"]
    env = rs.files["/opt/stacks/qdrant/.env.qdrant"].content.decode()
    assert f"QDRANT__SERVICE__API_KEY={ALL_SECRETS['vault_qdrant_api_key']}\n" in env
    (probe,) = rs.health[0].http
    assert (probe.path, probe.port, probe.auth_header, probe.auth_secret) == (
        "/readyz",
        6333,
        "api-key",
        "vault_qdrant_api_key",
    )


def test_ollama_pulls_each_configured_model_unless_listed() -> None:
    variables = lab_vars("compute", models=["qwen2.5-coder:14b", "odd name;rm"])
    steps = render_stack(load_stack(STACKS, "ollama"), variables).post_deploy
    assert [s.command for s in steps] == [
        "docker exec ollama ollama pull qwen2.5-coder:14b",
        "docker exec ollama ollama pull 'odd name;rm'",
    ]
    assert steps[0].unless is not None
    assert "grep -qxF qwen2.5-coder:14b" in steps[0].unless


# -- template.yaml validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda d: d.pop("role"), ["'role'", "is required"]),
        (lambda d: d.update(colour="blue"), ["'colour'", "unknown key"]),
        (lambda d: d["files"][1].update(mode="0644"), ["'files[1].mode'", "0600"]),
        (
            lambda d: d["files"][0].update(template="nope.j2"),
            ["'files[0].template'", "does not exist"],
        ),
        (lambda d: d["files"][0].update(dest="../escape.yaml"), ["'files[0].dest'", ".."]),
        (lambda d: d["files"][2].update(restarts=["nginx"]), ["'files[2].restarts'", "nginx"]),
        (lambda d: d["data_dirs"][0].update(mode="rwx"), ["'data_dirs[0].mode'", "octal"]),
        (lambda d: d.update(secrets=["master_key"]), ["'secrets'", "vault_"]),
        (lambda d: d["health"][0]["http"][1].update(auth_secret="vault_other"), ["auth_secret"]),
        (lambda d: d.update(project="Bad Name"), ["'project'"]),
    ],
)
def test_invalid_template_yaml_names_file_and_key(
    stacks_copy: Path, edit: Any, fragments: list[str]
) -> None:
    path = stacks_copy / "litellm" / "template.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_stack(stacks_copy, "litellm")
    assert str(path) in str(exc.value)
    for fragment in fragments:
        assert fragment in str(exc.value)


# -- host selection --------------------------------------------------------------------------


def test_stacks_option_narrows_and_unknown_names_list_the_valid_ones() -> None:
    variables = lab_vars("trusted")
    assert [s.name for s in stacks_for_host(variables, STACKS, None)] == [
        "litellm",
        "openwebui",
        "monitoring",
    ]
    assert [s.name for s in stacks_for_host(variables, STACKS, ["litellm"])] == ["litellm"]
    assert stacks_for_host(variables, STACKS, ["ollama"]) == []
    with pytest.raises(ConfigError) as exc:
        stacks_for_host(variables, STACKS, ["vllm"])
    assert "vllm" in str(exc.value)
    assert "litellm, monitoring, node-exporter, ollama, openwebui, qdrant" in str(exc.value)


def test_a_host_listing_another_roles_stack_is_refused() -> None:
    variables = {**lab_vars("trusted"), "stacks": ["litellm", "ollama"]}
    with pytest.raises(ConfigError, match=r"role trusted.*ollama.*role compute"):
        stacks_for_host(variables, STACKS, None)


# -- the render command ----------------------------------------------------------------------


def test_render_command_writes_masked_files_offline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["--config", str(PROD_CONFIG), "render", "--out", str(out)])
    assert res.exit_code == 0, res.output
    env = out / "srv-prod-1" / "qdrant" / ".env.qdrant"
    assert "QDRANT__SERVICE__API_KEY=MASKED-vault_qdrant_api_key\n" in env.read_text()
    assert env.stat().st_mode & 0o777 == 0o600
    assert (out / "lxc-prod-2" / "litellm" / "config" / "config.yaml").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["lxc-prod-2", "srv-prod-1"]
    assert masked_secrets(["vault_x"]) == {"vault_x": "MASKED-vault_x"}


def test_render_command_filters_and_narrows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "--config",
            str(LAB_CONFIG),
            "render",
            "--out",
            str(out),
            "--filter",
            "role=compute",
            "--stacks",
            "qdrant",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert list(data["hosts"]) == ["compute"]
    assert [s["name"] for s in data["hosts"]["compute"]] == ["qdrant"]
    assert sorted(p.name for p in (out / "compute").iterdir()) == ["qdrant"]


def test_render_command_unknown_stack_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli, ["--config", str(LAB_CONFIG), "render", "--out", str(tmp_path), "--stacks", "vllm"]
    )
    assert res.exit_code == 2
    assert (
        "valid stacks: litellm, monitoring, node-exporter, ollama, openwebui, qdrant" in res.output
    )


def test_render_with_revealed_secrets_keeps_them_owner_only(tmp_path: Path) -> None:
    from nornir_homehub.config import load_settings
    from nornir_homehub.secrets import load_secrets

    out = tmp_path / "revealed"
    res = CliRunner().invoke(
        cli, ["--config", str(LAB_CONFIG), "render", "--out", str(out), "--reveal-secrets"]
    )
    assert res.exit_code == 0, res.output
    store = load_secrets(load_settings(LAB_CONFIG), environ={}, register=False)
    values = [store.get(n).reveal().encode() for n in store.names()]
    holders = []
    for path in [out, *out.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        if path.is_dir():
            assert mode == 0o700, path
        elif any(v in path.read_bytes() for v in values):
            holders.append(path.name)
            assert mode == 0o600, path
    assert sorted(holders) == [".env.litellm", ".env.openwebui", ".env.qdrant"]


def test_the_rendered_healthchecks_are_what_docker_will_run() -> None:
    from nornir_homehub.render.stack import compose_healthchecks

    out = render_all(LAB_CONFIG)
    assert out["compute/ollama"].healthchecks == {"ollama": ("CMD", "ollama", "list")}
    (kind, line) = out["trusted/litellm"].healthchecks["litellm"]
    assert kind == "CMD-SHELL" and "http://127.0.0.1:4000/health/liveliness" in line
    assert out["compute/qdrant"].healthchecks == {}  # the vendor image has no healthcheck
    # Compose's forms: a string is CMD-SHELL; NONE, disabled, interpolated ($) and malformed
    # tests are left to Docker's own schedule.
    assert compose_healthchecks(
        {
            "a": {"healthcheck": {"test": "curl -f http://x/ || exit 1"}},
            "b": {"healthcheck": {"test": ["NONE"]}},
            "c": {"healthcheck": {"test": ["CMD", "true"], "disable": True}},
            "d": {"healthcheck": {"test": ["CMD-SHELL", 'curl -H "k: $$KEY" x']}},
            "e": {"healthcheck": {"test": ["CMD"]}},
            "f": {"image": "x"},
            "g": None,
        }
    ) == {"a": ("CMD-SHELL", "curl -f http://x/ || exit 1")}


def test_template_refs_follow_an_edited_template_and_its_includes(tmp_path: Path) -> None:
    # Parsed once per source text (every host renders the same templates), never stale: a
    # notebook that edits a template between two renders sees the new variables.
    from nornir_homehub.render.jinja import template_environment, template_refs

    (tmp_path / "main.j2").write_text("{{ a }}{% include 'part.j2' %}")
    (tmp_path / "part.j2").write_text("{{ b }}")
    env = template_environment(tmp_path)
    assert template_refs(env, "main.j2", set()) == ({"a", "b"}, False)
    (tmp_path / "part.j2").write_text("{{ var('c') }}")
    assert template_refs(env, "main.j2", set()) == ({"a"}, True)
    (tmp_path / "main.j2").write_text("{{ d }}")
    assert template_refs(env, "main.j2", set()) == ({"d"}, False)
