"""A compute host as the deploy left it, for the ``status``/``drift`` tests (scripted double).

`operate_script` answers the deploy's fact batch plus the runtime facts (`facts.runtime`) the
way the real commands print them: every file with its rendered hash (or the one a test gives,
a hand edit), the data dirs, the state records, the containers, the model check, the image ids
and digests, the state records' times.
"""

from __future__ import annotations

import datetime as dt
import json

from compute_double import STACKS, container, listing

from nornir_homehub.facts.runtime import runtime_commands
from nornir_homehub.facts.stacks import render_state, stack_fact_batch
from nornir_homehub.render import RenderedStack
from nornir_homehub.stackspec import available_stacks, load_stack
from nornir_homehub.testing import Command

NOW = dt.datetime(2026, 12, 1, 12, 1, 24, tzinfo=dt.UTC)  # 3 h after the containers started
QDRANT_ID = "sha256:" + "7f" * 32
OLLAMA_ID = "sha256:" + "1b" * 32
OLLAMA_DIGEST = "ollama/ollama@sha256:" + "5d" * 32
PROJECTS = {load_stack(STACKS, n).project: n for n in available_stacks(STACKS)}


def runtime_out() -> str:
    rows = [
        {"container": "/qdrant", "image_id": QDRANT_ID, "config_hash": "c2" * 32},
        {"container": "/ollama", "image_id": OLLAMA_ID, "config_hash": "0e" * 32},
        {"image_id": OLLAMA_ID, "repo_digests": [OLLAMA_DIGEST]},
        {"image_id": QDRANT_ID, "repo_digests": []},
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def state_line(stack: RenderedStack) -> str:
    """The ``states`` fact's line for ``stack`` as its last completed deploy wrote it."""
    hashes = {p: f.sha256 for p, f in stack.files.items()}
    return f"{stack.project_dir} {render_state(stack.name, stack.config_hash, hashes).decode()}\n"


def operate_script(
    stacks: list[RenderedStack],
    *,
    files: dict[str, str] | None = None,
    containers: str | None = None,
    model_there: bool = True,
) -> tuple[list[Command], dict[str, str]]:
    """The host as a deploy left it; ``files`` replaces the hashes of some paths."""
    batch = {**stack_fact_batch(stacks), **runtime_commands(s.project_dir for s in stacks)}
    files = files or {}
    listed = "".join(
        f"{p} {f.mode:o} root root {files.get(p, f.sha256)}\n"
        for s in stacks
        for p, f in s.files.items()
    )
    dirs = "".join(f"{d.path} 750 root root\n" for s in stacks for d in s.data_dirs)
    states = "".join(map(state_line, stacks))
    running = listing(container("ollama", "healthy"), container("qdrant", None))
    unless = next(st.unless for st in stacks[0].post_deploy if st.unless)
    times = "/opt/stacks/ollama 1796115684\n/opt/stacks/qdrant 1796115690\n"
    script = [
        Command(batch["files"], out=listed),
        Command(batch["dirs"], out=dirs),
        Command(batch["states"], out=states),
        Command(batch["containers"], out=running if containers is None else containers),
        Command(unless, exit=0 if model_there else 1),
        Command(batch["runtime"], out=runtime_out()),
        Command(batch["state_times"], out=times),
    ]
    return script, batch
