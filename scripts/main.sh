#!/usr/bin/env bash
# Installs what is missing, then runs the main job on the built-in data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/main_job.py "$@"
