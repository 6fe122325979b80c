"""The rendered LiteLLM config, loaded by the REAL LiteLLM proxy (PyPI litellm[proxy]).

The proxy runs on loopback from its own virtual environment (`scripts/setup.sh` creates it at
.homehub/litellm-venv; HOMEHUB_LITELLM may name another `litellm` executable). No model is
called: the models' api_base points at the lab's Ollama name, which this test never contacts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.config import load_nornir, load_settings
from nornir_homehub.render import render_host
from nornir_homehub.secrets import load_secrets

LITELLM = Path(
    os.environ.get("HOMEHUB_LITELLM", ROOT / ".homehub" / "litellm-venv" / "bin" / "litellm")
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def test_real_litellm_loads_the_rendered_config(tmp_path: Path) -> None:
    if not LITELLM.exists():
        pytest.fail(f"LiteLLM proxy not installed at {LITELLM}: run scripts/setup.sh")
    settings = load_settings(LAB_CONFIG)
    store = load_secrets(settings, register=False)
    nr = load_nornir(LAB_CONFIG)
    host = nr.inventory.hosts["trusted"]
    (stack,) = render_host(nr, host, settings.stacks_path, store.as_template_vars(), {"litellm"})
    files = {Path(p).name: f.content.decode() for p, f in stack.files.items()}
    config = tmp_path / "config.yaml"
    config.write_text(files["config.yaml"])
    env = dict(os.environ)
    for line in files[".env.litellm"].splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            env[key.strip()] = value.strip().strip('"')
    env["LITELLM_TELEMETRY"] = "False"
    master = store.get("vault_litellm_master_key").reveal()
    assert env["LITELLM_MASTER_KEY"] == master
    assert master not in files["config.yaml"]  # the key lives in the 0600 env file only

    port = _free_port()
    log = (tmp_path / "litellm.log").open("w")
    proc = subprocess.Popen(
        [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                status, body = _get(f"{base}/health/liveliness")
                if status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "litellm.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "LiteLLM did not start in 180 s"
            time.sleep(0.5)
        assert "alive" in body.lower()
        status, body = _get(f"{base}/v1/models", {"Authorization": f"Bearer {master}"})
        assert status == 200
        ids = [m["id"] for m in json.loads(body)["data"]]
        expected = list(nr.inventory.hosts["trusted"]["ollama_models"])
        assert ids == expected
        status, _ = _get(f"{base}/v1/models")
        assert status != 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
