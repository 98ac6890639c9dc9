#!/usr/bin/env bash
# Installs what is missing, then runs the default test suite (slow and GPU tests left out).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
