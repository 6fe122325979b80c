"""Default paths and file names, in one place.

Every module that needs one of these imports it from here. The controller's paths are relative
to the config file's folder (or, for the lab started from a wheel, to the current folder);
the hosts' paths are what the inventory's site values (``stacks_root``, ``data_root``,
``backup_dir``, ``dns_zone_dir``) default to when a site leaves them out.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_BACKUP_DIR",
    "DEFAULT_CONFIG",
    "DEFAULT_DATA_ROOT",
    "DEFAULT_HISTORY_DIR",
    "DEFAULT_LAB_DIR",
    "DEFAULT_LAB_LOCK_FILE",
    "DEFAULT_NAMED_DIRECTORY",
    "DEFAULT_REPORT_DIR",
    "DEFAULT_STACKS_ROOT",
    "DEFAULT_ZONE_DIR",
    "LAB_OWNER_FILE",
    "NAMED_CONF_LOCAL",
    "STACK_STATE_FILE",
    "STATE_DIR",
    "VAULT_PASSWORD_FILE",
    "ZONE_STATE_FILE",
]

# --------------------------------------------------------------------------- the controller

DEFAULT_CONFIG = "config.yaml"
"""The config file when neither ``--config`` nor ``$HOMEHUB_CONFIG`` names one."""

STATE_DIR = ".homehub"
"""The folder of what runs leave on the controller (reports, history, the lab's state)."""

DEFAULT_REPORT_DIR = f"{STATE_DIR}/reports"
"""``homehub.report_dir``: the JSON reports."""

DEFAULT_HISTORY_DIR = f"{STATE_DIR}/runs"
"""``homehub.history_dir``: every run's report, for the ``history`` command."""

DEFAULT_LAB_DIR = f"{STATE_DIR}/lab"
"""The lab's state below the current folder when no lab config names one (a wheel install)."""

VAULT_PASSWORD_FILE = ".vault_pass"  # noqa: S105 - a file name, not a password
"""The vault password file ``init`` generates beside a new site's config."""

DEFAULT_LAB_LOCK_FILE = "/run/lock/nornir-homehub-lab.lock"
"""The machine-wide lock of the lab (``$HOMEHUB_LAB_LOCK`` overrides it)."""

LAB_OWNER_FILE = "/run/nornir-homehub-lab.owner"
"""Names the checkout whose lab runs on this machine."""

# --------------------------------------------------------------------------- the hosts

DEFAULT_STACKS_ROOT = "/opt/stacks"
"""``stacks_root``: each stack's project folder (compose file, env files) is below it."""

DEFAULT_DATA_ROOT = "/srv/docker"
"""``data_root``: the stacks' data directories are below it."""

DEFAULT_BACKUP_DIR = "/srv/backups/homehub"
"""``backup_dir``: one folder per backup run."""

STACK_STATE_FILE = ".homehub-state.json"
"""A stack's state record, in its project folder (written after a deploy succeeded)."""

DEFAULT_ZONE_DIR = "/etc/bind/zones"
"""``dns_zone_dir``: where the zone file ``db.<zone>`` is kept on the dns host."""

ZONE_STATE_FILE = ".{zone_file}.managed.json"
"""The state file beside a zone file (``zone_file``: its base name): the managed records."""

NAMED_CONF_LOCAL = "/etc/bind/named.conf.local"
"""Debian's file of local zone stanzas, where the zone's stanza goes."""

DEFAULT_NAMED_DIRECTORY = "/var/cache/bind"
"""named's working directory (its ``directory`` option), for relative ``$INCLUDE`` paths."""
