"""Helpers for testing code built on nornir_homehub (pure, no host is touched).

- `scripted`: a scripted host connection (like fabric's testing module) and a Nornir object
  whose hosts answer from scripts, for unit tests of tasks and checks without a server.
- `secret_scan`: find every form of a secret value in files (the suite's leak guard).
"""

from nornir_homehub.testing.scripted import (
    Command,
    FileEntry,
    ScriptedHost,
    UnscriptedCommand,
    scripted_nornir,
)

__all__ = ["Command", "FileEntry", "ScriptedHost", "UnscriptedCommand", "scripted_nornir"]
