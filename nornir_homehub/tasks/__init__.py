"""Nornir tasks (``verb_object``): gather facts, plan, apply. All I/O goes through the connection."""
