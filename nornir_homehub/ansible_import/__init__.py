"""``homehub import-ansible``: turn an Ansible inventory (+ group_vars/host_vars) into a site.

Reads YAML and INI inventories, ``group_vars``/``host_vars`` as files and folders, whole-file
vaults and inline ``!vault`` values. Nothing is decrypted to be written again: whole-file vaults
are referenced from the new config, inline ``!vault`` blobs are copied verbatim into the new
site's ``inventory/vault.yml``. Groups map to roles (a group named like a role, or
``--role GROUP=ROLE``); Ansible's connection variables become the inventory's own fields.

Modules: `reader` (reading the Ansible inventory and its vars files), `site` (roles, building
and writing the new site).
"""

from __future__ import annotations

from nornir_homehub.ansible_import.reader import (
    AnsibleInventory,
    Group,
    InlineVault,
    read_inventory,
)
from nornir_homehub.ansible_import.site import (
    ImportResult,
    build_site,
    host_roles,
    import_ansible,
    parse_role_options,
)

__all__ = [
    "AnsibleInventory",
    "Group",
    "ImportResult",
    "InlineVault",
    "build_site",
    "host_roles",
    "import_ansible",
    "parse_role_options",
    "read_inventory",
]
