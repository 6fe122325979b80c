"""``homehub init DIR``: scaffold a new site (config, inventory, encrypted vault, .gitignore).

The site renders right away (``homehub --config DIR/config.yaml render --out r``) with the
built-in stacks; the operator then replaces the placeholder addresses and names. Nothing here
connects anywhere.
"""

from __future__ import annotations

import os
import re
import secrets as _stdlib_secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nornir_homehub.defaults import (
    DEFAULT_BACKUP_DIR,
    DEFAULT_DATA_ROOT,
    DEFAULT_HISTORY_DIR,
    DEFAULT_REPORT_DIR,
    DEFAULT_STACKS_ROOT,
    DEFAULT_ZONE_DIR,
    STATE_DIR,
    VAULT_PASSWORD_FILE,
)
from nornir_homehub.errors import ConfigError

ROLES = ("trusted", "compute", "dns")
ROLE_STACKS: Mapping[str, tuple[str, ...]] = {
    "trusted": ("litellm", "openwebui"),
    "compute": ("ollama", "qdrant"),
    "dns": (),
}
# Documentation addresses (RFC 5737 TEST-NET-2): they route nowhere, so a scaffolded site
# cannot reach a real machine before the operator fills in the real addresses.
PLACEHOLDER_HOSTS: Mapping[str, tuple[str, str]] = {
    "trusted": ("trusted-1", "198.51.100.10"),
    "compute": ("compute-1", "198.51.100.20"),
    "dns": ("ns-1", "198.51.100.53"),
}
# The secrets the built-in stacks need; LiteLLM refuses a master key without the sk- prefix.
SITE_SECRETS: Mapping[str, str] = {
    "vault_webui_secret_key": "",
    "vault_qdrant_api_key": "",
    "vault_litellm_master_key": "sk-",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

CONFIG_YAML = """\
# nornir_homehub site configuration (made by `homehub init`). Paths are relative to this file.
inventory:
  plugin: SimpleInventory
  options:
    host_file: inventory/hosts.yaml
    group_file: inventory/groups.yaml
    defaults_file: inventory/defaults.yaml
runner:
  plugin: threaded
  options:
    num_workers: 20
logging:
  enabled: false
homehub:
  vault_file: {vault_file}
  vault_password_file: {password_file}
  report_dir: {report_dir}
  history_dir: {history_dir}
  # Your own stacks and runbooks add to the built-in ones (a same-named one overrides it):
  # stacks_dir: stacks
  # runbooks_dir: runbooks
"""

GROUPS_YAML = """\
# One group per role; `stacks` lists what `deploy` puts on the role's hosts.
trusted:
  data:
    stacks: [litellm, openwebui]
compute:
  data:
    stacks: [ollama, qdrant]
dns:
  data:
    stacks: []
"""

DEFAULTS_YAML = """\
# Site values shared by every host. Values that follow from the inventory (ai_compute_ip,
# the extra_hosts map of internal names) are derived; never type them here.
username: root
data:
  domain: {domain}
  data_root: {data_root}
  stacks_root: {stacks_root}
  timezone: {timezone}
  # Names served through Traefik on the trusted host (CNAME -> trusted host).
  public_services: [chat, openai]
  # Names only reachable inside the site (CNAME -> compute host; extra_hosts in containers).
  internal_services: [ollama, qdrant]
  # The zone on the dns host (`homehub dns`); dns_zone null = the domain.
  dns_zone: null
  dns_ttl: 3600
  dns_soa_contact: hostmaster
  dns_zone_dir: {zone_dir}
  dns_records: []
  dns_absent: []
  # Pinned images: change a tag here and `deploy` recreates exactly that stack.
  images:
    litellm: ghcr.io/berriai/litellm:v1.108.7
    openwebui: ghcr.io/open-webui/open-webui:v0.6.34
    ollama: ollama/ollama:0.12.6
    qdrant: qdrant/qdrant:v1.15.5
  # The models Ollama serves; LiteLLM lists them in this order (the first is the default).
  ollama_models: [qwen2.5-coder:14b]
  traefik_entrypoint: websecure
  traefik_certresolver: letsencrypt
  legacy_stack_dirs: {{}}
  backup_dir: {backup_dir}
  backup_keep: 7
  backup_stop: [qdrant, openwebui]
  litellm_external_models: []
connection_options:
  homehub_ssh:
    extras:
      known_hosts: ~/.ssh/known_hosts
      connect_timeout: 10
      command_timeout: 900
"""

HOST_BLOCK = """\
{name}:
  # REPLACE: the host's address (an IP or DNS name the controller reaches over SSH).
  hostname: {address}
  groups: [{role}]
  data:
    role: {role}
    fqdn: {name}.{domain}
{extra}"""

GPU_BLOCK = """\
    # The GPU this host should have (the GPU checks compare nvidia-smi with it); null: none.
    gpu:
      vendor: nvidia
      model: REPLACE-with-the-nvidia-smi-name
      memory_mib: 16384
"""

GITIGNORE = """\
# Never commit the vault password; the vault itself is encrypted and safe to commit.
{password_file}
{state_dir}/
render-out/
"""

README = """\
# {domain}: a nornir_homehub site

Made by `homehub init`. Before the first deploy:

1. Replace the placeholder addresses (198.51.100.x) and names in `inventory/hosts.yaml`.
2. Check the site values in `inventory/defaults.yaml` (domain, images, Traefik entrypoint).
3. Keep `{password_file}` safe and out of git (it is in `.gitignore`): it decrypts
   `inventory/vault.yml`, which holds generated secrets
   ({secret_names}). Edit the vault with `ansible-vault edit inventory/vault.yml
   --vault-password-file {password_file}`.

Then, from this folder:

```bash
homehub --config config.yaml render --out render-out   # offline: what would be deployed
homehub --config config.yaml deploy --dry-run          # exact diffs, changes nothing
homehub --config config.yaml deploy                    # DNS -> compute -> trusted -> verify
```
"""


# The default paths the templates name (`nornir_homehub.defaults`).
_PATHS = {
    "report_dir": DEFAULT_REPORT_DIR,
    "history_dir": DEFAULT_HISTORY_DIR,
    "state_dir": STATE_DIR,
    "data_root": DEFAULT_DATA_ROOT,
    "stacks_root": DEFAULT_STACKS_ROOT,
    "zone_dir": DEFAULT_ZONE_DIR,
    "backup_dir": DEFAULT_BACKUP_DIR,
}


def config_yaml(vault_file: str, password_file: str) -> str:
    """The text of a new site's config.yaml, naming its vault and vault password files."""
    return CONFIG_YAML.format(**_PATHS, vault_file=vault_file, password_file=password_file)


def defaults_yaml(domain: str, timezone: str) -> str:
    """The commented text of a new site's defaults.yaml (the site values every host shares)."""
    return DEFAULTS_YAML.format(**_PATHS, domain=domain, timezone=timezone)


def gitignore() -> str:
    """The text of a new site's .gitignore: the vault password file and the run state."""
    return GITIGNORE.format(**_PATHS, password_file=VAULT_PASSWORD_FILE)


@dataclass(frozen=True)
class SiteHost:
    """One host of the scaffolded inventory."""

    name: str
    role: str
    address: str


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote."""

    directory: Path
    files: tuple[Path, ...]
    password_generated: bool
    secrets: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (file paths relative to the site folder)."""
        return {
            "directory": str(self.directory),
            "files": [str(p.relative_to(self.directory)) for p in self.files],
            "password_generated": self.password_generated,
            "secrets": list(self.secrets),
        }


def parse_host_option(text: str) -> SiteHost:
    """Parse ``ROLE=NAME@ADDRESS`` (the ``--host`` option of ``init``).

    Raises:
        ConfigError: not of that form, an unknown role or an invalid name.
    """
    role, sep, rest = text.partition("=")
    name, at, address = rest.partition("@")
    if not sep or not at or not name or not address:
        raise ConfigError(
            f"--host {text!r}: expected ROLE=NAME@ADDRESS, e.g. compute=gpu1@10.0.0.5"
        )
    if role not in ROLES:
        raise ConfigError(f"--host {text!r}: unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not _NAME_RE.match(name):
        raise ConfigError(f"--host {text!r}: host name {name!r} may use letters, digits, - _ .")
    return SiteHost(name, role, address)


def site_hosts(given: Sequence[SiteHost]) -> list[SiteHost]:
    """The given hosts, plus a placeholder for every role none of them has."""
    hosts = list(given)
    for role in ROLES:
        if not any(h.role == role for h in hosts):
            name, address = PLACEHOLDER_HOSTS[role]
            hosts.append(SiteHost(name, role, address))
    names = [h.name for h in hosts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"host name(s) given twice: {', '.join(dupes)}")
    return sorted(hosts, key=lambda h: (ROLES.index(h.role), h.name))


def hosts_yaml(hosts: Sequence[SiteHost], domain: str) -> str:
    """The commented hosts.yaml text for ``hosts``."""
    blocks = [
        HOST_BLOCK.format(
            name=h.name,
            address=h.address,
            role=h.role,
            domain=domain,
            extra=GPU_BLOCK if h.role == "compute" else "    gpu: null\n",
        )
        for h in hosts
    ]
    return "# The site's hosts, one role each (trusted, compute, dns).\n" + "\n".join(blocks)


def generate_secrets() -> dict[str, str]:
    """Fresh strong values for every secret the built-in stacks need (256 bits each)."""
    return {
        name: prefix + _stdlib_secrets.token_urlsafe(32) for name, prefix in SITE_SECRETS.items()
    }


def write_site_file(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write a new site file ``path`` (parents made) with ``mode``; return ``path``.

    Raises:
        FileExistsError: the file exists already (a site is never overwritten).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)
    return path


def init_site(
    directory: Path,
    *,
    domain: str = "homehub.example",
    hosts: Sequence[SiteHost] = (),
    password_file: Path | None = None,
    timezone: str = "UTC",
) -> InitResult:
    """Write a new site into ``directory`` (which must be missing or empty).

    Args:
        directory: the site folder.
        domain: the site's DNS domain.
        hosts: hosts to put in the inventory; roles without one get a placeholder host.
        password_file: an existing vault password file to use; without it a strong password
            is generated into ``DIR/.vault_pass`` (0600).
        timezone: the containers' TZ.

    Returns:
        What was written.

    Raises:
        ConfigError: the folder is not empty, the domain or a host is invalid, or the password
            file cannot be read.
    """
    if not _DOMAIN_RE.match(domain):
        raise ConfigError(f"--domain {domain!r} is not a DNS domain (e.g. homehub.example)")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ConfigError(f"{directory} exists and is not an empty folder; init writes a new site")
    chosen = site_hosts(hosts)
    from nornir_homehub.secrets import encrypt_vault

    generated = password_file is None
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"--vault-password-file {password_file}: {exc.strerror}") from None
        if not password:
            raise ConfigError(f"--vault-password-file {password_file} is empty")
        password_ref = str(password_file.resolve())
    else:
        password = _stdlib_secrets.token_urlsafe(32)
        password_ref = VAULT_PASSWORD_FILE
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    values = generate_secrets()
    vault_text = encrypt_vault(yaml.safe_dump(values, sort_keys=True).encode(), password)
    written = []
    if generated:
        written.append(write_site_file(directory / VAULT_PASSWORD_FILE, password + "\n", 0o600))
    written += [
        write_site_file(
            directory / "config.yaml",
            config_yaml(vault_file="inventory/vault.yml", password_file=password_ref),
        ),
        write_site_file(directory / "inventory" / "hosts.yaml", hosts_yaml(chosen, domain)),
        write_site_file(directory / "inventory" / "groups.yaml", GROUPS_YAML),
        write_site_file(
            directory / "inventory" / "defaults.yaml",
            defaults_yaml(domain, timezone),
        ),
        write_site_file(directory / "inventory" / "vault.yml", vault_text, 0o600),
        write_site_file(directory / ".gitignore", gitignore()),
        write_site_file(
            directory / "README.md",
            README.format(
                domain=domain, password_file=password_ref, secret_names=", ".join(values)
            ),
        ),
    ]
    return InitResult(directory, tuple(written), generated, tuple(values))
