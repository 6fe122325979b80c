"""Stack specs: ``stacks/<service>/template.yaml`` found, validated and parsed into types.

`load_stack` reads one stack's metadata from the first stack folder that has it
(`available_stacks`, `find_stack`) and returns a `StackSpec`: its services, secrets, data
dirs, templated files, post-deploy steps and health checks (`HttpProbe`, `ServiceHealth`).
Pure: reads files, opens no connection. Rendering a spec is `nornir_homehub.render`.
"""

from __future__ import annotations

from nornir_homehub.stackspec.loader import (
    TEMPLATE_FILE,
    StacksPath,
    available_stacks,
    find_stack,
    load_stack,
)
from nornir_homehub.stackspec.model import (
    DataDirSpec,
    FileSpec,
    HttpProbe,
    ServiceHealth,
    StackSpec,
    StepSpec,
    host_secret_names,
    secret_names,
)

__all__ = [
    "TEMPLATE_FILE",
    "DataDirSpec",
    "FileSpec",
    "HttpProbe",
    "ServiceHealth",
    "StackSpec",
    "StacksPath",
    "StepSpec",
    "available_stacks",
    "find_stack",
    "host_secret_names",
    "load_stack",
    "secret_names",
]
