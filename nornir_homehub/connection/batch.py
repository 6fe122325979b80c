"""Batched facts: several commands in one round trip, each result framed apart (pure).

`render_batch` builds the ``sh`` script `HostConnection.run_batch` sends; every command runs
in its own subshell with stdin closed, and its exit code, stdout and stderr come back as one
line, ``INDEX EXIT BASE64(STDOUT) BASE64(STDERR)``, so any bytes are safe. `parse_batch` reads
those lines back; a command whose line is missing or garbled is left out of its answer (the
caller says which facts returned nothing).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from nornir_homehub.codes import EXIT_NO_TEMP_DIR
from nornir_homehub.connection.result import CommandResult

if TYPE_CHECKING:
    from collections.abc import Mapping


def render_batch(commands: Mapping[str, str], *, parallel: bool = False) -> str:
    """The script that runs ``commands`` (name -> shell command) and frames each result.

    Args:
        commands: fact name -> shell command; the order gives each its index.
        parallel: start all commands at once and wait for all (default: one after another).

    Returns:
        The script, for ``sh -c``; it exits `EXIT_NO_TEMP_DIR` when ``mktemp -d`` fails.
    """
    names = list(commands)
    parts = [f"t=$(mktemp -d) || exit {EXIT_NO_TEMP_DIR}", "trap 'rm -rf \"$t\"' EXIT"]
    for i, name in enumerate(names):
        run = f'( {commands[name]}\n) >"$t/o{i}" 2>"$t/e{i}" </dev/null'
        parts.append(f"{run} & p{i}=$!" if parallel else f"{run}; r{i}=$?")
    for i in range(len(names)):
        if parallel:
            parts.append(f"wait $p{i}; r{i}=$?")
        # An empty output (most stderr, many stdout) costs no base64 process: it frames as "".
        parts.append(
            f"printf '%s %s ' {i} \"$r{i}\"; "
            f'if [ -s "$t/o{i}" ]; then base64 -w0 <"$t/o{i}"; fi; printf \' \'; '
            f'if [ -s "$t/e{i}" ]; then base64 -w0 <"$t/e{i}"; fi; printf \'\\n\''
        )
    return "\n".join(parts)


def parse_batch(text: str, commands: Mapping[str, str]) -> dict[str, CommandResult]:
    """The results framed in ``text`` (the stdout of `render_batch`'s script), by fact name.

    Lines that are not result frames (noise a login shell printed), garbled frames and indexes
    beyond ``commands`` are skipped: those facts are absent from the answer.
    """
    names = list(commands)
    results: dict[str, CommandResult] = {}
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) != 4 or not fields[0].isdigit():
            continue
        try:
            idx, code = int(fields[0]), int(fields[1])
            out, err = base64.b64decode(fields[2]), base64.b64decode(fields[3])
        except ValueError:
            continue  # a garbled line: its fact is reported missing
        if idx >= len(names):
            continue
        name = names[idx]
        results[name] = CommandResult(
            command=commands[name],
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
        )
    return results
