"""The LiteLLM stand-in's ``GET /health``, run for real: its busybox handler, a loopback Ollama.

The handler (nornir_homehub/lab/images/litellm/handler) is a STAND-IN for the real proxy's
/health; these tests feed it one HTTP request on stdin, as the lab's ``serve`` does, with a
config in the shape `stacks/litellm/config.yaml.j2` renders, and read what `parse_health` makes
of the answer. Busybox applets (sh, wget, timeout, awk, ...) are linked into a folder that is the
whole PATH, as in the image.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from loopback_http import QuietHandler, serving

from nornir_homehub.facts.litellm import parse_health

IMAGES = Path(__file__).resolve().parents[2] / "nornir_homehub" / "lab" / "images"
BUSYBOX = shutil.which("busybox")
APPLETS = ("sh", "wget", "timeout", "awk", "sed", "tr", "head", "tail", "wc", "env", "printf")
KEY = "sk-standin-test-key-0123456789"

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox (scripts/setup.sh)")


class _Ollama(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
        if self.path == "/api/tags":
            self.reply_json(200, {"models": [{"name": "qwen2.5-coder:14b", "size": 1}]})
        else:
            self.reply(404, b"404 page not found")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, bases: dict[str, str]) -> Path:
    lines = ["# rendered for trusted", "model_list:"]
    for host, base in bases.items():
        lines += [
            '  - model_name: "qwen2.5-coder:14b"',
            "    litellm_params:",
            '      model: "ollama_chat/qwen2.5-coder:14b"',
            f'      api_base: "{base}"',
            "    model_info:",
            f'      id: "qwen2.5-coder:14b@{host}"',
        ]
    lines += ["", "litellm_settings:", "  drop_params: true", "", "general_settings:"]
    lines += ["  master_key: os.environ/LITELLM_MASTER_KEY", ""]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines))
    return path


def _ask(tmp_path: Path, config: Path, authorization: str | None) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    assert BUSYBOX is not None
    for applet in APPLETS:
        if not (bin_dir / applet).exists():
            (bin_dir / applet).symlink_to(BUSYBOX)
    request = "GET /health HTTP/1.1\r\nHost: litellm\r\n"
    if authorization is not None:
        request += f"Authorization: {authorization}\r\n"
    request += "\r\n"
    proc = subprocess.run(
        [str(bin_dir / "sh"), str(IMAGES / "litellm" / "handler")],
        input=request.encode(),
        capture_output=True,
        timeout=60,
        check=False,
        env={
            "PATH": str(bin_dir),
            "STANDIN_LIB": str(IMAGES / "_common"),
            "LITELLM_STANDIN_CONFIG": str(config),
            "LITELLM_MASTER_KEY": KEY,
        },
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode()


def _response(raw: str) -> tuple[int, str]:
    head, _, body = raw.partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_health_lists_each_deployment_healthy_or_unhealthy(tmp_path: Path) -> None:
    """One backend answers /api/tags, the other refuses: each is listed where it belongs."""
    down = f"http://127.0.0.1:{_closed_port()}"
    with serving(_Ollama) as port:
        up = f"http://127.0.0.1:{port}"
        config = _config(tmp_path, {"compute": up, "node01": down})
        status, body = _response(_ask(tmp_path, config, f"Bearer {KEY}"))
    assert status == 200
    doc = json.loads(body)
    assert (doc["healthy_count"], doc["unhealthy_count"]) == (1, 1)
    health = parse_health(body)
    good = health.find("ollama_chat/qwen2.5-coder:14b", up)
    bad = health.find("ollama_chat/qwen2.5-coder:14b", down)
    assert good is not None and good.healthy and not good.error
    assert bad is not None and not bad.healthy
    assert "OllamaException - wget: can't connect to remote host" in bad.error
    assert "Connection refused" in bad.error
    assert KEY not in body


def test_a_backend_that_never_answers_is_unhealthy_after_the_timeout(tmp_path: Path) -> None:
    """A listener that accepts and says nothing: the wget is cut off, the reason says so."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        status, body = _response(
            _ask(tmp_path, _config(tmp_path, {"compute": base}), f"Bearer {KEY}")
        )
    assert status == 200
    [bad] = parse_health(body).endpoints
    assert not bad.healthy
    assert f"no answer from {base} within 3 s" in bad.error


def test_health_needs_the_master_key(tmp_path: Path) -> None:
    """Without the key, or with a wrong one, /health answers 401 and names no deployment."""
    config = _config(tmp_path, {"compute": "http://127.0.0.1:9"})
    for authorization in (None, "Bearer wrong"):
        status, body = _response(_ask(tmp_path, config, authorization))
        assert status == 401
        assert "api_base" not in body


def test_health_without_deployments_is_an_empty_answer(tmp_path: Path) -> None:
    """No deployments at all: an empty but well-formed answer (zero counts)."""
    config = tmp_path / "config.yaml"
    config.write_text("model_list: []\ngeneral_settings:\n  master_key: x\n")
    status, body = _response(_ask(tmp_path, config, f"Bearer {KEY}"))
    assert status == 200
    assert parse_health(body).endpoints == ()
    assert json.loads(body)["healthy_count"] == 0
