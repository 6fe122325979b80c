"""paramiko's ``import invoke`` is deferred (`defer_invoke`), and ssh_config ``Match exec`` works.

In a fresh interpreter: importing the connection plugin and then paramiko loads no invoke
submodule (invoke pulls in asyncio and unittest.mock: ~30 ms on every command that connects);
an ssh_config ``Match exec`` line then runs its command through the real invoke, as before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import nornir_homehub.connection.ssh
    import paramiko
    loaded_at_import = sorted(m for m in sys.modules if m.startswith("invoke."))
    text = 'Match exec "{cmd}"\\n  User matched\\nHost *\\n  User other\\n'
    users = [
        paramiko.SSHConfig.from_text(text.format(cmd=cmd)).lookup("h")["user"]
        for cmd in ("true", "false")
    ]
    print(json.dumps({"at_import": loaded_at_import, "users": users,
                      "loaded_after": "invoke.context" in sys.modules}))
    """
)


def test_invoke_loads_only_when_an_ssh_config_match_exec_needs_it() -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout)
    assert seen["at_import"] == []
    assert seen["users"] == ["matched", "other"]
    assert seen["loaded_after"] is True
