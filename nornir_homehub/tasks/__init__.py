"""Nornir tasks (``verb_object``): gather facts, plan, apply; all I/O goes via the connection."""
