"""Facts: a remote command plus a pure ``parse_*`` function returning a typed value."""
