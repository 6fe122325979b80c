"""Pure planning code (``plan_*``): desired state vs facts, no I/O."""
