"""Built-in files of nornir_homehub: the wheel carries this folder (see nornir_homehub/builtin)."""
