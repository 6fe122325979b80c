"""``python -m nornir_homehub``."""

from nornir_homehub.cli import main

main()
