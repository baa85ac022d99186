#!/usr/bin/env bash
# Build a side venv for `make bench` (idempotent): bench/side_env.sh st-onnx|ipex
# The venv goes to .cache/venvs/<name>; a stamp file records the requirements it was built from
# (their requirement lines only: editing a comment does not rebuild a multi-GB venv).
set -euo pipefail
name="${1:?usage: bench/side_env.sh st-onnx|ipex}"
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/requirements/$name.txt"
venv="${COMPENDIUM_CACHE:-$root/.cache}/venvs/$name"
stamp="$venv/.requirements.sha256"
want="$(grep -v '^[[:space:]]*\(#\|$\)' "$req" | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "side env $name is up to date: $venv"; exit 0
fi
python3.11 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
if [[ "$name" == "st-onnx" ]]; then
  # the CPU torch wheel (requirements/torch.txt); /opt/wheels holds it on this machine
  "$venv/bin/pip" install -q --find-links /opt/wheels -r "$root/requirements/torch.txt"
fi
"$venv/bin/pip" install -q --find-links /opt/wheels -r "$req"
"$venv/bin/pip" check
echo "$want" > "$stamp"
echo "side env $name ready: $venv"
