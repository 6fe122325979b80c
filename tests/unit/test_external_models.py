"""External providers in LiteLLM (litellm_external_models): rendering and required secrets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT

from nornir_homehub.config import load_nornir
from nornir_homehub.errors import ConfigError, SecretError
from nornir_homehub.inventory import site_vars
from nornir_homehub.render import render_stack, stacks_for_host
from nornir_homehub.stackspec import load_stack, secret_names

STACKS = ROOT / "stacks"
SECRETS = {"vault_litellm_master_key": "sk-Master-1", "vault_openai_api_key": "sk-OpenAI-9"}
GPT = {
    "name": "gpt-4o",
    "provider": "openai",
    "model": "gpt-4o",
    "api_key_secret": "vault_openai_api_key",
}


def trusted_vars(**extra: Any) -> dict[str, Any]:
    nr = load_nornir(LAB_CONFIG)
    return {**site_vars(nr, nr.inventory.hosts["trusted"]), **extra}


def files(variables: dict[str, Any]) -> tuple[dict[str, Any], str]:
    rs = render_stack(load_stack(STACKS, "litellm"), variables)
    config = rs.files["/opt/stacks/litellm/config/config.yaml"].content.decode()
    env = rs.files["/opt/stacks/litellm/.env.litellm"].content.decode()
    return yaml.safe_load(config) | {"_text": config}, env


def test_external_model_is_listed_after_the_ollama_models_with_its_key_in_env_only() -> None:
    config, env = files(trusted_vars(litellm_external_models=[GPT], **SECRETS))
    names = [m["model_name"] for m in config["model_list"]]
    assert names == ["qwen2.5-coder:14b", "gpt-4o"]
    params = config["model_list"][-1]["litellm_params"]
    assert params == {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"}
    assert "sk-OpenAI-9" not in config["_text"]
    assert "OPENAI_API_KEY=sk-OpenAI-9" in env.splitlines()


def test_no_external_models_renders_as_before() -> None:
    config, env = files(trusted_vars(litellm_external_models=[], **SECRETS))
    assert [m["model_name"] for m in config["model_list"]] == ["qwen2.5-coder:14b"]
    assert "OPENAI_API_KEY" not in env


def test_listed_secret_is_required_and_a_missing_one_names_it() -> None:
    variables = trusted_vars(litellm_external_models=[GPT])
    specs = stacks_for_host(variables, STACKS, ["litellm"])
    assert secret_names(specs) == {"vault_litellm_master_key", "vault_openai_api_key"}
    with pytest.raises(SecretError, match="vault_openai_api_key"):
        render_stack(load_stack(STACKS, "litellm"), {**variables, "vault_litellm_master_key": "x"})
    # Not listed: not required.
    assert secret_names(stacks_for_host(trusted_vars(), STACKS, ["litellm"])) == {
        "vault_litellm_master_key"
    }


def test_api_key_secret_must_be_a_secret_name() -> None:
    bad = {**GPT, "api_key_secret": "OPENAI_API_KEY"}
    with pytest.raises(ConfigError, match=r"litellm_external_models\[0\]\.api_key_secret"):
        stacks_for_host(trusted_vars(litellm_external_models=[bad]), STACKS, ["litellm"])
