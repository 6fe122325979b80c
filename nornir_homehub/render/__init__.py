"""Rendering: a stack spec + Jinja2 templates + one host's variables -> the files to deploy.

Pure code: nothing here opens a connection. `render_stack` renders one stack's files for one
host's variables (`nornir_homehub.render.stack`), `render_host` does it for every stack a host
deploys (`stacks_for_host`); the results are the types of `nornir_homehub.render.output`; the
Jinja environment, its filters and error messages are `nornir_homehub.render.jinja`. Secrets
are plain template variables (``vault_*``); a rendered file that contains one is marked
``secret`` and must be mode 0600. The stack specs themselves (``template.yaml``) are
`nornir_homehub.stackspec`.
"""

from __future__ import annotations

from nornir_homehub.defaults import DEFAULT_DATA_ROOT, DEFAULT_STACKS_ROOT
from nornir_homehub.render.jinja import env_value
from nornir_homehub.render.output import PostDeployStep, RenderedDir, RenderedFile, RenderedStack
from nornir_homehub.render.stack import (
    MASK_PREFIX,
    MIN_SECRET_MATCH,
    masked_secrets,
    render_host,
    render_stack,
    stacks_for_host,
)

# The spec names callers imported from here before the spec had its own package.
from nornir_homehub.stackspec import (
    TEMPLATE_FILE,
    DataDirSpec,
    FileSpec,
    HttpProbe,
    ServiceHealth,
    StacksPath,
    StackSpec,
    StepSpec,
    available_stacks,
    find_stack,
    host_secret_names,
    load_stack,
    secret_names,
)

__all__ = [
    "DEFAULT_DATA_ROOT",
    "DEFAULT_STACKS_ROOT",
    "MASK_PREFIX",
    "MIN_SECRET_MATCH",
    "TEMPLATE_FILE",
    "DataDirSpec",
    "FileSpec",
    "HttpProbe",
    "PostDeployStep",
    "RenderedDir",
    "RenderedFile",
    "RenderedStack",
    "ServiceHealth",
    "StackSpec",
    "StacksPath",
    "StepSpec",
    "available_stacks",
    "env_value",
    "find_stack",
    "host_secret_names",
    "load_stack",
    "masked_secrets",
    "render_host",
    "render_stack",
    "secret_names",
    "stacks_for_host",
]
