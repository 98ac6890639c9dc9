#!/usr/bin/env bash
# Refreshes the exact locks in requirements/ from pyproject.toml (+ requirements/constraints.txt).
# Run it after changing a dependency range in pyproject.toml, or to take newer releases on
# purpose; then run `bash scripts/test.sh` from a fresh .venv and commit the locks with the change.
#   requirements/lock-py310.txt: Python 3.10, extras lava + dev (the CPU machines, CI)
#   requirements/lock-py312.txt: Python 3.12, extra dev, no Lava (the GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
uv=""
if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
  uv=uv
else
  # A private copy of the pinned uv, so that the lock does not depend on what the machine has.
  tools=.venv-tools
  [ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q "uv==$UV_VERSION"; }
  uv="$tools/bin/uv"
fi
common=(pyproject.toml -c requirements/constraints.txt --generate-hashes --quiet
        --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line)
"$uv" pip compile "${common[@]}" --python-version 3.10 --extra lava --extra dev -o requirements/lock-py310.txt
"$uv" pip compile "${common[@]}" --python-version 3.12 --extra dev -o requirements/lock-py312.txt
echo "locks written: requirements/lock-py310.txt requirements/lock-py312.txt"
