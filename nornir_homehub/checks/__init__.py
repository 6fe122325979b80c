"""Verification checks (DNS, containers, network, HTTP, auth, model, GPU)."""

from nornir_homehub.checks.model import Check, Layer, Status

__all__ = ["Check", "Layer", "Status"]
