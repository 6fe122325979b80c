"""Helpers for testing code built on nornir_homehub (pure, no host is touched)."""
