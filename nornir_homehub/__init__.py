"""nornir_homehub: deploy and operate a self-hosted AI stack over SSH with Nornir.

The CLI is ``python -m nornir_homehub``; notebooks use ``from nornir_homehub import HomeHub``.
Imports are lazy so that ``--help`` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nornir_homehub.hub import HomeHub

__all__ = ["HomeHub", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "HomeHub":
        from nornir_homehub.hub import HomeHub

        return HomeHub
    raise AttributeError(name)
