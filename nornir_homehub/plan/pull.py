"""Which images a deploy pulls before it stops or recreates anything (pure, with reasons).

A stack is pulled when its compose run would replace a running container with another image
reference (the inventory changed a tag or a digest): pulling first means a registry that does
not have the image fails the stack while its old container still runs. A service without a
container has nothing to stop, and Compose pulls what it creates. ``deploy --pull`` pulls every
image of every stack (a tag may point at a new digest), and `image_updates` names the services
whose container then runs another image than the tag now names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.plan.drift import compose_images
from nornir_homehub.plan.stacks import ComposeAction

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.facts.images import RunningImage
    from nornir_homehub.facts.stacks import HostStackFacts
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class PullPlan:
    """The images one stack pulls, and why.

    Attributes:
        stack: the stack's name.
        images: references to pull, in service order (no duplicates).
        reasons: one line per image (``openwebui: image A -> B``).
        always: pull even an image already on the host (``deploy --pull``); otherwise only
            a missing one is pulled, as Compose's default ``pull_policy: missing``.
    """

    stack: str
    images: tuple[str, ...]
    reasons: tuple[str, ...]
    always: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stack": self.stack,
            "images": list(self.images),
            "reasons": list(self.reasons),
            "always": self.always,
        }


def plan_pull(
    stack: RenderedStack, plan: StackPlan | None, facts: HostStackFacts, *, always: bool = False
) -> PullPlan:
    """The images ``stack`` pulls before its compose run.

    Args:
        stack: the rendered stack.
        plan: its deploy plan (None: not planned, nothing runs compose).
        facts: the host's facts (the containers and the references they were created from).
        always: pull every image (``deploy --pull``).
    """
    images = compose_images(stack)
    running = {c.service: c for c in facts.project_containers(stack.project)}
    acts = plan is not None and (plan.action is not ComposeAction.NONE or bool(plan.recreate))
    picked: dict[str, str] = {}
    for service, image in images.items():
        c = running.get(service)
        if always:
            picked.setdefault(image, f"{service}: --pull")
        elif acts and c is not None and c.image != image:
            picked.setdefault(image, f"{service}: image {c.image} -> {image}")
    return PullPlan(stack.name, tuple(picked), tuple(picked.values()), always)


def image_updates(
    stack: RenderedStack, pulled: Mapping[str, str], running: tuple[RunningImage, ...]
) -> tuple[str, ...]:
    """Reasons to run compose for services whose container runs another image than pulled.

    Args:
        stack: the rendered stack.
        pulled: image reference -> the local image id after the pull.
        running: what the host's stack containers run (`facts.images.parse_running_images`).
    """
    images = compose_images(stack)
    out = []
    for r in running:
        if r.project != stack.project or r.service not in images:
            continue
        ref = images[r.service]
        new = pulled.get(ref)
        if new and new != r.image_id:
            out.append(f"{r.service}: {ref} now names {new[:19]} (runs {r.image_id[:19]})")
    return tuple(out)
