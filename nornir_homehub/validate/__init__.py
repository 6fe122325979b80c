"""Schema validation of config.yaml and the inventory, before Nornir sees them.

Pure: reads nothing but what it is given (and, for paths, whether they exist), opens no
connection and resolves no name. Every check adds to a `Problems` collector, so one run lists
every problem (``FILE:LINE: key.path: what is wrong; valid: ...``); the caller raises them
together. What is checked:

* config.yaml: the known sections and keys only (``homehub:`` included), plugin names that are
  registered, ``num_workers`` a positive integer, logging values;
* the inventory (SimpleInventory's hosts/groups/defaults files): host and group names (letters,
  digits, ``-``, ``_``, ``.``), the known keys of each entry, addresses that are IPs or DNS
  names, ports 1-65535, groups that exist (no cycles), every host with a known role, stacks
  that exist, connection plugins and their extras (`connection_options`).

Modules: `config` (config.yaml's sections), `inventory` (hosts, groups, defaults; the SSH
files before connecting), `site_values` (a ``data:`` mapping: role, stacks, site values),
`rules` (single values: names, addresses, ports, counts; the checker that places problems).
"""

from __future__ import annotations

from nornir_homehub.validate.config import (
    CONFIG_SECTIONS,
    LOG_LEVELS,
    SIMPLE_INVENTORY_OPTIONS,
    check_config,
    registered,
)
from nornir_homehub.validate.inventory import (
    CONNECTION_KEYS,
    DEFAULTS_KEYS,
    GROUP_KEYS,
    HOST_KEYS,
    InventoryDocs,
    check_connection_files,
    check_inventory,
)
from nornir_homehub.validate.rules import address_problem, name_problem, port_problem
from nornir_homehub.validate.site_values import CONNECTION_KINDS, KNOWN_ROLES

__all__ = [
    "CONFIG_SECTIONS",
    "CONNECTION_KEYS",
    "CONNECTION_KINDS",
    "DEFAULTS_KEYS",
    "GROUP_KEYS",
    "HOST_KEYS",
    "KNOWN_ROLES",
    "LOG_LEVELS",
    "SIMPLE_INVENTORY_OPTIONS",
    "InventoryDocs",
    "address_problem",
    "check_config",
    "check_connection_files",
    "check_inventory",
    "name_problem",
    "port_problem",
    "registered",
]
