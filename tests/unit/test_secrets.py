"""Secrets: the Secret type, Ansible Vault decryption, loading, redaction and masking.

Fixture vaults are made at test time with the real ``ansible-vault`` CLI and decrypted with our
own code (no ansible import in the library).
"""

from __future__ import annotations

import base64
import copy
import difflib
import io
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG
from secret_forms import FORM_CASES, build

from nornir_homehub.config import Settings, load_settings
from nornir_homehub.errors import ConfigError, SecretError
from nornir_homehub.secrets import (
    REDACTED_LOGGERS,
    RedactingFilter,
    Redactor,
    Secret,
    SecretStore,
    active_redactor,
    decrypt_vault,
    is_vault,
    load_secrets,
    load_secrets_for_output,
    load_vault_file,
    redact_all,
    redact_head,
    redact_tail,
    register_redactor,
    scrubbed_environ,
    unregister_redactor,
)
from nornir_homehub.testing.secret_scan import scan_bytes

CASES = Path(__file__).parent / "cases" / "secrets"

PASSWORD = "correct-horse-battery-staple-7731"
WRONG_PASSWORD = "wrong-password-not-it-0042"
VALUES = {
    "vault_webui_secret_key": "WebuiSecretValue0123456789abcdefXYZ",
    "vault_qdrant_api_key": "QdrantApiKeyValue9876543210zyxwvuABC",
    "vault_litellm_master_key": "sk-LitellmMasterKeyValue1122334455667788",
}

needs_ansible_vault = pytest.mark.skipif(
    shutil.which("ansible-vault") is None,
    reason="ansible-vault CLI not installed (pip install ansible-core)",
)


def _ansible_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp)
    env["ANSIBLE_HOME"] = str(tmp)
    return env


def ansible_vault(tmp: Path, *args: str, stdin: str) -> str:
    proc = subprocess.run(
        ["ansible-vault", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_ansible_env(tmp),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def yaml_doc(values: dict[str, str]) -> str:
    return yaml.safe_dump(values, sort_keys=True)


@dataclass(frozen=True)
class Vaults:
    password_file: Path
    v11: Path
    v12: Path
    inline: Path


@pytest.fixture(scope="session")
def vaults(tmp_path_factory: pytest.TempPathFactory) -> Vaults:
    if shutil.which("ansible-vault") is None:
        pytest.skip("ansible-vault CLI not installed (pip install ansible-core)")
    tmp = tmp_path_factory.mktemp("vaults")
    pw = tmp / "vault_pass"
    pw.write_text(PASSWORD + "\n")
    v11 = tmp / "v11.yml"
    ansible_vault(
        tmp,
        "encrypt",
        "--vault-password-file",
        str(pw),
        "--output",
        str(v11),
        "-",
        stdin=yaml_doc(VALUES),
    )
    v12 = tmp / "v12.yml"
    ansible_vault(
        tmp,
        "encrypt",
        "--vault-id",
        f"prod@{pw}",
        "--output",
        str(v12),
        "-",
        stdin=yaml_doc(VALUES),
    )
    inline_parts = ["# inline vault: one !vault value per key, plus plain keys\n"]
    for name, value in VALUES.items():
        inline_parts.append(
            ansible_vault(
                tmp,
                "encrypt_string",
                "--vault-password-file",
                str(pw),
                "--stdin-name",
                name,
                stdin=value,
            )
        )
    inline_parts.append("plain_setting: not-encrypted-value\n")
    inline_parts.append("structured: {a: 1}\n")
    inline = tmp / "inline.yml"
    inline.write_text("".join(inline_parts))
    return Vaults(password_file=pw, v11=v11, v12=v12, inline=inline)


def make_settings(
    tmp_path: Path, vault_file: Path | None, password_file: Path | None = None
) -> Settings:
    return Settings(
        config_path=tmp_path / "config.yaml",
        stacks_dir=tmp_path / "stacks",
        runbooks_dir=tmp_path / "runbooks",
        vault_file=vault_file,
        vault_password_file=password_file,
        report_dir=tmp_path / "reports",
        history_dir=tmp_path / "runs",
        lab_dir=None,
    )


@pytest.fixture
def cleanup_registry() -> Iterator[list[Redactor]]:
    added: list[Redactor] = []
    yield added
    for r in added:
        unregister_redactor(r)


def _registry_snapshot() -> list[Redactor]:
    """Every registered redactor (a test that loads through load_secrets unregisters them)."""
    from nornir_homehub.secrets import registry

    return list(registry._registry)


# --------------------------------------------------------------------------- Secret type


def test_secret_never_shows_its_value() -> None:
    s = Secret("vault_qdrant_api_key", "topsecretvalue123")
    shown = [
        repr(s),
        str(s),
        f"{s}",
        f"{s!r}",
        f"{s:>40}",
        "%s" % s,  # noqa: UP031 - the %-operator is what old log calls use
        "{}".format(s),  # noqa: UP032
        str([s]),
        str({"k": s}),
        json.dumps({"k": s}, default=str),
    ]
    for text in shown:
        assert "topsecretvalue123" not in text
        assert "<secret vault_qdrant_api_key>" in text
    assert s.reveal() == "topsecretvalue123"
    assert s.name == "vault_qdrant_api_key"


def test_secret_refuses_json_and_pickle_without_leaking() -> None:
    s = Secret("k", "topsecretvalue123")
    with pytest.raises(TypeError) as exc:
        json.dumps({"k": s})
    assert "topsecretvalue123" not in str(exc.value)
    with pytest.raises(TypeError, match="cannot be pickled") as exc:
        pickle.dumps(s)
    assert "topsecretvalue123" not in str(exc.value)
    # copies are the same immutable object, not a route around pickling
    assert copy.deepcopy({"k": s})["k"] is s


def test_secret_comparison_is_explicit() -> None:
    s = Secret("k", "value-1")
    assert s == Secret("k", "value-1")
    assert s != Secret("k", "value-2")
    assert s != Secret("other", "value-1")
    with pytest.raises(TypeError, match="reveal"):
        _ = s == "value-1"
    with pytest.raises(TypeError, match="reveal"):
        _ = "value-1" == s  # noqa: SIM300 - the reflected comparison is what is tested
    with pytest.raises(AttributeError):
        s._value = "x"


# --------------------------------------------------------------------------- vault decryption


@needs_ansible_vault
@pytest.mark.parametrize("which", ["v11", "v12", "inline"])
def test_vault_made_by_ansible_decrypts(vaults: Vaults, which: str) -> None:
    path: Path = getattr(vaults, which)
    values = load_vault_file(path, PASSWORD)
    for name, value in VALUES.items():
        assert values[name] == value
    if which == "inline":
        assert values["plain_setting"] == "not-encrypted-value"
        assert "structured" not in values  # non-string values are skipped, not loaded


@needs_ansible_vault
def test_v12_header_and_vault_id(vaults: Vaults) -> None:
    text = vaults.v12.read_text()
    assert text.startswith("$ANSIBLE_VAULT;1.2;AES256;prod")
    assert is_vault(text)
    assert yaml.safe_load(decrypt_vault(text, PASSWORD)) == VALUES


@needs_ansible_vault
@pytest.mark.parametrize("which", ["v11", "v12", "inline"])
def test_wrong_password_names_file_not_password(
    vaults: Vaults, which: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path: Path = getattr(vaults, which)
    monkeypatch.chdir(path.parent)
    with pytest.raises(SecretError) as exc:
        load_vault_file(path, WRONG_PASSWORD)
    message = str(exc.value)
    assert message.startswith(f"wrong vault password for {path.name}")
    for leak in (WRONG_PASSWORD, PASSWORD, *VALUES.values()):
        assert leak not in message
    assert isinstance(exc.value, ConfigError)  # the CLI maps it to exit code 2


def _tamper(text: str) -> str:
    """Change one hex digit of the ciphertext, keeping the envelope well-formed."""
    header, *body = text.splitlines()
    salt, mac, ciphertext = bytes.fromhex("".join(body)).split(b"\n", 2)
    flipped = ciphertext[:-1] + (b"0" if ciphertext[-1:] != b"0" else b"1")
    return header + "\n" + b"\n".join([salt, mac, flipped]).hex() + "\n"


@needs_ansible_vault
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(_tamper, "wrong vault password for", id="ciphertext-changed"),
        pytest.param(
            lambda t: t.splitlines()[0] + "\nzz-not-hex\n", "damaged", id="payload-not-hex"
        ),
        pytest.param(
            lambda t: t.replace("1.1;AES256", "1.1;AES128"), "cipher 'AES128'", id="cipher"
        ),
        pytest.param(lambda t: t.replace(";1.1;", ";9.9;"), "version '9.9'", id="version"),
    ],
)
def test_damaged_vault_is_reported_without_values(
    vaults: Vaults, tmp_path: Path, mutate: Callable[[str], str], expected: str
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(mutate(vaults.v11.read_text()))
    with pytest.raises(SecretError, match=re.escape(expected)) as exc:
        load_vault_file(bad, PASSWORD)
    assert "bad.yml" in str(exc.value)
    for leak in (PASSWORD, *VALUES.values()):
        assert leak not in str(exc.value)


def test_broken_yaml_error_does_not_quote_the_file(tmp_path: Path) -> None:
    secrets_file = tmp_path / "plain.yml"
    secrets_file.write_text("vault_a: ok\nvault_b: [unclosed SuperSecretValue999\n")
    with pytest.raises(SecretError, match="not valid YAML at line") as exc:
        load_vault_file(secrets_file, None)
    assert "SuperSecretValue999" not in str(exc.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    f = tmp_path / "list.yml"
    f.write_text("- a\n- b\n")
    with pytest.raises(SecretError, match="must hold a YAML mapping"):
        load_vault_file(f, None)


# --------------------------------------------------------------------------- load_secrets


@needs_ansible_vault
@pytest.mark.parametrize(
    "source",
    [
        "config",
        "HOMEHUB_VAULT_PASSWORD",
        "HOMEHUB_VAULT_PASSWORD_FILE",
        "ANSIBLE_VAULT_PASSWORD_FILE",
    ],
)
def test_password_sources(vaults: Vaults, tmp_path: Path, source: str) -> None:
    environ: dict[str, str] = {}
    pw_file: Path | None = tmp_path / "absent_pass"
    if source == "config":
        pw_file = vaults.password_file
    elif source == "HOMEHUB_VAULT_PASSWORD":
        environ[source] = PASSWORD
    else:
        environ[source] = str(vaults.password_file)
    store = load_secrets(
        make_settings(tmp_path, vaults.v11, pw_file), environ=environ, register=False
    )
    assert store.names() == sorted(VALUES)
    assert store.as_template_vars() == VALUES
    assert store.source("vault_qdrant_api_key").startswith("vault ")


@needs_ansible_vault
def test_encrypted_vault_without_password_says_how_to_supply_it(
    vaults: Vaults, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, vaults.v11, tmp_path / "no_such_pass")
    with pytest.raises(SecretError) as exc:
        load_secrets(settings, environ={}, register=False)
    message = str(exc.value)
    for needed in (
        "v11.yml",
        "vault_password_file",
        "no_such_pass",
        "HOMEHUB_VAULT_PASSWORD",
        "HOMEHUB_VAULT_PASSWORD_FILE",
        "ANSIBLE_VAULT_PASSWORD_FILE",
    ):
        assert needed in message


@needs_ansible_vault
def test_password_file_from_env_that_does_not_exist(vaults: Vaults, tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="not found") as exc:
        load_secrets(
            make_settings(tmp_path, vaults.v11),
            environ={"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "gone")},
            register=False,
        )
    assert "gone" in str(exc.value)
    assert "ANSIBLE_VAULT_PASSWORD_FILE" in str(exc.value)


@needs_ansible_vault
def test_env_overrides_vault_and_adds_secrets(vaults: Vaults, tmp_path: Path) -> None:
    environ = {
        "HOMEHUB_VAULT_PASSWORD": PASSWORD,
        "HOMEHUB_SECRET_VAULT_QDRANT_API_KEY": "from-env-qdrant-key-000111",
        "HOMEHUB_SECRET_EXTRA_TOKEN": "from-env-extra-token-222333",
        "UNRELATED": "x",
    }
    store = load_secrets(make_settings(tmp_path, vaults.v11), environ=environ, register=False)
    assert store.get("vault_qdrant_api_key").reveal() == "from-env-qdrant-key-000111"
    assert store.source("vault_qdrant_api_key") == "env HOMEHUB_SECRET_VAULT_QDRANT_API_KEY"
    assert store.get("extra_token").reveal() == "from-env-extra-token-222333"
    assert store.get("vault_webui_secret_key").reveal() == VALUES["vault_webui_secret_key"]
    # the vault password itself is redacted too, though it is not a template value
    assert "vault_password" not in store.names()
    assert PASSWORD not in store.redactor().redact(f"pw={PASSWORD}")


def test_env_only_without_vault_file(tmp_path: Path) -> None:
    environ = {
        "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY": "envOnlyWebuiKey12345678",
        "HOMEHUB_SECRET_VAULT_QDRANT_API_KEY": "envOnlyQdrantKey1234567",
        "HOMEHUB_SECRET_EMPTY": "",
    }
    store = load_secrets(
        make_settings(tmp_path, tmp_path / "vault.yml"), environ=environ, register=False
    )
    assert store.names() == ["vault_qdrant_api_key", "vault_webui_secret_key"]
    store.require(["vault_qdrant_api_key", "vault_webui_secret_key"])


def test_require_lists_all_missing_names_and_places(tmp_path: Path) -> None:
    store = load_secrets(
        make_settings(tmp_path, tmp_path / "vault.yml"),
        environ={"HOMEHUB_SECRET_VAULT_QDRANT_API_KEY": "present-value-1234"},
        register=False,
    )
    with pytest.raises(SecretError) as exc:
        store.require(
            ["vault_qdrant_api_key", "vault_webui_secret_key", "vault_litellm_master_key"]
        )
    message = str(exc.value)
    assert "missing secrets vault_litellm_master_key, vault_webui_secret_key" in message
    assert "vault.yml" in message
    assert "HOMEHUB_SECRET_VAULT_LITELLM_MASTER_KEY" in message
    assert "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY" in message
    assert "present-value-1234" not in message
    with pytest.raises(SecretError, match="missing secret nope"):
        store.get("nope")


def test_store_repr_and_to_dict_hide_values() -> None:
    store = SecretStore.from_mapping({"a_key": "hiddenValueAAAA1111"}, source="test")
    for text in (repr(store), json.dumps(store.to_dict()), str(store.to_dict())):
        assert "hiddenValueAAAA1111" not in text
        assert "a_key" in text
    with pytest.raises(TypeError):
        pickle.dumps(store)
    with pytest.raises(TypeError):
        pickle.dumps(store.redactor())
    assert "hiddenValueAAAA1111" not in repr(store.redactor())


def test_lab_vault_has_the_three_secrets() -> None:
    settings = load_settings(LAB_CONFIG)
    assert settings.vault_file is not None
    assert is_vault(settings.vault_file.read_bytes())
    store = load_secrets(settings, environ={}, register=False)
    names = ["vault_webui_secret_key", "vault_qdrant_api_key", "vault_litellm_master_key"]
    store.require(names)
    for name in names:
        value = store.get(name).reveal()
        assert len(value) >= 32, name
        assert re.fullmatch(r"(sk-)?[A-Za-z0-9]+", value), name
    assert store.get("vault_litellm_master_key").reveal().startswith("sk-")


# --------------------------------------------------------------------------- redaction

SPECIAL = 'p@ss/w"rd+ü&x=1 with space\\slash'
PLAIN = "AlphaNumericSecretValue0123456789"

ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "url-quoted": lambda v: urllib.parse.quote(v, safe=""),
    "url-quote-plus": urllib.parse.quote_plus,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64-urlsafe": lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
    "json-escaped": lambda v: json.dumps(v)[1:-1],
    "json-ascii-off": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "basic-auth-blob": lambda v: base64.b64encode(b"admin:" + v.encode()).decode(),
    "basic-auth-blob-2": lambda v: base64.b64encode(b"ab:" + v.encode() + b":x").decode(),
}


@pytest.mark.parametrize("value", [PLAIN, SPECIAL], ids=["alnum", "special"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_redact_covers_encoded_forms(value: str, encoding: str) -> None:
    redactor = SecretStore.from_mapping({"vault_api_key": value}).redactor()
    encoded = ENCODINGS[encoding](value)
    out = redactor.redact(f"Authorization: {encoded} end")
    assert encoded not in out
    assert value not in out
    assert "<secret vault_api_key>" in out
    assert out.startswith("Authorization: ")


def test_redact_longest_first_and_names_each_secret() -> None:
    redactor = SecretStore.from_mapping(
        {"short_one": "abcdefgh1234", "long_one": "abcdefgh1234-and-more"}
    ).redactor()
    out = redactor.redact("x=abcdefgh1234-and-more y=abcdefgh1234")
    assert out == "x=<secret long_one> y=<secret short_one>"


def test_redact_obj_walks_structures() -> None:
    redactor = SecretStore.from_mapping({"k": "SecretInStructure999"}).redactor()
    data: dict[str, Any] = {
        "diff": "+KEY=SecretInStructure999\n",
        "list": ["ok", ("SecretInStructure999", 3)],
        "SecretInStructure999": None,
        "obj": Secret("other", "zzz-not-in-store"),
        "raw": b"SecretInStructure999",
        "n": 5,
    }
    out = redactor.redact_obj(data)
    assert "SecretInStructure999" not in json.dumps(out, default=repr)
    assert "zzz-not-in-store" not in json.dumps(out, default=repr)
    assert out["list"][1] == ("<secret k>", 3)
    assert out["obj"] == "<secret other>"
    assert out["n"] == 5
    assert data["diff"] == "+KEY=SecretInStructure999\n"  # the input is not modified


def test_empty_store_redacts_nothing() -> None:
    redactor = SecretStore.from_mapping({"blank": ""}).redactor()
    assert not redactor
    assert redactor.redact("unchanged text") == "unchanged text"


def test_registry_redacts_every_loaded_store(cleanup_registry: list[Redactor]) -> None:
    a = SecretStore.from_mapping({"a": "RegistryValueAAAA1111"}).redactor()
    b = SecretStore.from_mapping({"b": "RegistryValueBBBB2222"}).redactor()
    text = "RegistryValueAAAA1111 RegistryValueBBBB2222"
    assert redact_all(text) == text
    # Other tests of this process may have registered stores already (the API loads them).
    before = len(active_redactor().secrets)
    for r in (a, b):
        register_redactor(r)
        cleanup_registry.append(r)
    register_redactor(a)  # idempotent
    assert redact_all(text) == "<secret a> <secret b>"
    assert len(active_redactor().secrets) == before + 2  # `a` registered once, not twice
    unregister_redactor(a)
    assert redact_all(text) == "RegistryValueAAAA1111 <secret b>"


def test_load_secrets_registers_its_redactor(
    tmp_path: Path, cleanup_registry: list[Redactor]
) -> None:
    store = load_secrets(
        make_settings(tmp_path, None), environ={"HOMEHUB_SECRET_TOKEN": "RegisteredOnLoad777"}
    )
    cleanup_registry.append(store.redactor())
    assert redact_all("x RegisteredOnLoad777") == "x <secret token>"


def test_logging_filter_redacts_message_args_and_traceback() -> None:
    redactor = SecretStore.from_mapping({"vault_qdrant_api_key": "LoggedSecretValue42"}).redactor()
    log = logging.getLogger("tests.secrets.filter")
    log.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    log.addHandler(handler)
    try:
        log.warning("header %s count=%d", "api-key: LoggedSecretValue42", 3)
        try:
            raise RuntimeError("boom with LoggedSecretValue42")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "LoggedSecretValue42" not in out
    assert "header api-key: <secret vault_qdrant_api_key> count=3" in out
    assert "RuntimeError: boom with <secret vault_qdrant_api_key>" in out


# --------------------------------------------------------------------------- masking

MASK_CASES = yaml.safe_load((CASES / "mask_assignments.yaml").read_text())


def _diff(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize("case", MASK_CASES, ids=[c["id"] for c in MASK_CASES])
def test_mask_assignments_diff_shows_changes_not_values(case: dict[str, Any]) -> None:
    # The store knows none of the old values: masking works by key, not by value.
    redactor = Redactor()
    old = redactor.mask_assignments(case["old"], case["keys"])
    new = redactor.mask_assignments(case["new"], case["keys"])
    changed = _diff(old, new)
    text = "\n".join(changed) + old + new
    for value in case["values"]:
        assert value not in text
    for key in case["changed"]:
        assert any(key in line and line.startswith("-") for line in changed), key
        assert any(key in line and line.startswith("+") for line in changed), key
    for key in case["unchanged"]:
        assert not any(key in line for line in changed), key
    for key in case["keys"]:
        assert re.search(rf"{key}[\"']?(=|: )[\"']?<secret sha256:[0-9a-f]{{8}}>", new), key


def test_mask_assignments_leaves_other_lines_and_redacts_known_values() -> None:
    redactor = SecretStore.from_mapping({"tok": "KnownTokenValue5555"}).redactor()
    text = "A=1\nSECRET=\nNOTE=uses KnownTokenValue5555\n"
    out = redactor.mask_assignments(text, ["SECRET"])
    assert out == "A=1\nSECRET=\nNOTE=uses <secret tok>\n"


def test_mask_marker_is_stable_within_a_process() -> None:
    r = Redactor()
    a = r.mask_assignments("K=sameValue123456", ["K"])
    b = r.mask_assignments("K=sameValue123456", ["K"])
    c = r.mask_assignments("K=otherValue12345", ["K"])
    assert a == b != c


def test_plain_secrets_file_needs_no_password(tmp_path: Path) -> None:
    f = tmp_path / "secrets.yml"
    f.write_text("# values could also be !vault strings\nvault_token: plainFileToken0001\n")
    store = load_secrets(make_settings(tmp_path, f), environ={}, register=False)
    assert store.get("vault_token").reveal() == "plainFileToken0001"


# --------------------------------------------------------------------------- every form

REDACT_CASES = yaml.safe_load((CASES / "redact.yaml").read_text())


@pytest.mark.parametrize("case", REDACT_CASES, ids=[c["id"] for c in REDACT_CASES])
def test_redact_cases(case: dict[str, Any]) -> None:
    redactor = SecretStore.from_mapping(case["secrets"]).redactor()
    assert redactor.redact(case["text"]) == case["expected"]


@pytest.mark.parametrize("case", FORM_CASES, ids=[c["id"] for c in FORM_CASES])
def test_redact_every_form(case: dict[str, Any]) -> None:
    text, _ = build(case)
    redactor = SecretStore.from_mapping({"vault_x_key": case["value"]}).redactor()
    out = redactor.redact(text)
    assert "<secret vault_x_key>" in out
    # The scanner searches for the concrete forms independently of the redactor's regexes.
    assert scan_bytes(out.encode(), {"vault_x_key": case["value"]}) == []
    assert out.startswith(case.get("before", "before text: "))
    assert out.endswith(case.get("after", " :after text"))


@pytest.mark.parametrize("limit", [1, 5, 20, 37, 60])
def test_cut_never_keeps_part_of_a_secret(limit: int) -> None:
    value = "QdrantLabKey0123456789abcdefABCDEFxyz"
    redactor = SecretStore.from_mapping({"k": value}).redactor()
    text = "x" * 30 + value + "y" * 30
    # A cut anywhere inside the value: the part kept is never a piece of it.
    for head in (redactor.head(text, 30 + limit), redactor.tail(text, 30 + limit)):
        assert not any(value[i : i + 5] in head for i in range(len(value) - 4))
    assert redactor.head(text, 40) == "x" * 30 + "<secret k>"
    assert redactor.tail(text, 40) == "<secret k>" + "y" * 30


def test_process_wide_head_and_tail(cleanup_registry: list[Redactor]) -> None:
    value = "RegisteredTailValue0123456789"
    r = SecretStore.from_mapping({"tail_key": value}).redactor()
    register_redactor(r)
    cleanup_registry.append(r)
    text = "error: " + value + "\n" + "z" * 10
    assert redact_tail(text, 20) == "tail_key>\n" + "z" * 10
    assert value[-10:] not in redact_tail(text, 20)
    assert redact_head(text, 12) == "error: <secr"


def test_mask_every_assignment_by_default() -> None:
    old = "TZ=UTC\nLITELLM_MASTER_KEY=sk-oldMaster000111\nOPENAI_API_KEY=sk-removedProviderKey42\n"
    new = "TZ=UTC\nLITELLM_MASTER_KEY=sk-oldMaster000111\n"
    r = Redactor()
    masked_old, masked_new = r.mask_assignments(old), r.mask_assignments(new)
    diff = "\n".join(_diff(masked_old, masked_new))
    assert "sk-removedProviderKey42" not in masked_old + diff
    assert re.fullmatch(r"-OPENAI_API_KEY=<secret sha256:[0-9a-f]{8}>", diff)
    assert "TZ=<secret sha256:" in masked_new


# --------------------------------------------------------------------------- environment


def test_scrubbed_environ_keeps_only_what_commands_need(
    cleanup_registry: list[Redactor],
) -> None:
    r = SecretStore.from_mapping({"tok": "LoadedTokenValue987654"}).redactor()
    register_redactor(r)
    cleanup_registry.append(r)
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOMEHUB_VAULT_PASSWORD": "pw-in-env-0001",
        "HOMEHUB_VAULT_PASSWORD_FILE": "/x/pw",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/x/pw",
        "HOMEHUB_SECRET_VAULT_QDRANT_API_KEY": "qdrant-from-env-0002",
        "AWS_SECRET_ACCESS_KEY": "aws-0003",
        "MY_TOOL_OPTION": "uses LoadedTokenValue987654",
        "CUDA_VISIBLE_DEVICES": "0",
    }
    out = scrubbed_environ(environ, keep=["MY_TOOL_OPTION", "HOMEHUB_SECRET_VAULT_QDRANT_API_KEY"])
    assert out == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "CUDA_VISIBLE_DEVICES": "0",
    }
    assert scrubbed_environ({})["PATH"]


def test_local_connection_runs_commands_with_a_scrubbed_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nornir_homehub.connection import HomehubLocal

    monkeypatch.setenv("HOMEHUB_VAULT_PASSWORD", "local-env-password-0004")
    monkeypatch.setenv("HOMEHUB_SECRET_EXTRA", "local-env-secret-0005")
    monkeypatch.setenv("HOMEHUB_TEST_KEEP", "kept-0006")
    monkeypatch.setenv("HOMEHUB_TEST_DROP", "dropped-0007")
    conn = HomehubLocal()
    conn.open("localhost", None, None, None, None, {"env_keep": ["HOMEHUB_TEST_KEEP"]})
    env = conn.run("env", check=True).stdout
    for leaked in ("local-env-password-0004", "local-env-secret-0005", "dropped-0007"):
        assert leaked not in env
    assert "HOMEHUB_TEST_KEEP=kept-0006" in env
    assert f"PATH={os.environ['PATH']}" in env


# --------------------------------------------------------------------------- logging


def test_log_redaction_covers_child_loggers_and_nornir_handlers(
    tmp_path: Path, cleanup_registry: list[Redactor]
) -> None:
    value = "LoggedByNornirTask0123456789"
    r = SecretStore.from_mapping({"vault_k": value}).redactor()
    register_redactor(r)  # installs the log redaction
    cleanup_registry.append(r)
    handler = logging.FileHandler(tmp_path / "nornir.log")
    parent = logging.getLogger("nornir")
    parent.addHandler(handler)
    saved = parent.level
    parent.setLevel(logging.DEBUG)
    try:
        child = logging.getLogger("nornir.core.task")
        try:
            raise RuntimeError(f"task failed: token {value[:9]}\n  {value[9:]}")
        except RuntimeError:
            child.exception("Host %r: task %r failed: %s", "h1", "t", f"header {value}")
        logging.getLogger("paramiko.transport").warning("auth with %s", value)
        logging.getLogger("nornir_homehub.tasks").error("%s", value.encode().hex())
    finally:
        parent.removeHandler(handler)
        parent.setLevel(saved)
        handler.close()
    text = (tmp_path / "nornir.log").read_text()
    assert "task failed: token <secret vault_k>" in text
    assert "header <secret vault_k>" in text
    assert value not in text
    assert scan_bytes(text.encode(), {"vault_k": value}) == []
    for name in REDACTED_LOGGERS:
        assert any(isinstance(f, RedactingFilter) for f in logging.getLogger(name).filters)


# --------------------------------------------------------------------------- best effort


def test_load_for_output_without_password_is_a_note_not_an_error(
    vaults: Vaults, tmp_path: Path, cleanup_registry: list[Redactor]
) -> None:
    settings = make_settings(tmp_path, vaults.v11, tmp_path / "no_pass")
    store, note = load_secrets_for_output(
        settings, environ={"HOMEHUB_SECRET_ENV_ONLY": "EnvOnlyValue0123456789"}
    )
    cleanup_registry.extend(_registry_snapshot())
    assert store is None
    assert note is not None
    assert "the vault was not loaded" in note
    assert "only the values known without it" in note
    assert "HOMEHUB_SECRET_*" in note
    assert redact_all("x EnvOnlyValue0123456789") == "x <secret env_only>"
    for value in VALUES.values():
        assert value not in note


def test_load_for_output_with_the_vault_has_no_note(
    vaults: Vaults, tmp_path: Path, cleanup_registry: list[Redactor]
) -> None:
    settings = make_settings(tmp_path, vaults.v11, vaults.password_file)
    store, note = load_secrets_for_output(settings, environ={})
    cleanup_registry.extend(_registry_snapshot())
    assert note is None
    assert store is not None
    assert store.names() == sorted(VALUES)
    no_vault = make_settings(tmp_path, None)
    _, note = load_secrets_for_output(no_vault, environ={})
    assert note is not None
    assert note.startswith("no vault is configured")
