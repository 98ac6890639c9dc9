#!/usr/bin/env bash
# Installs what is missing, and nothing else: Debian packages (fluidsynth and timidity, the
# piano sample sets FluidR3, csound's GM bank, freepats and MuseScore General, opus-tools, chromium), a Python 3.10
# virtual environment in .venv, and the project with its extras.
# Quick when everything is already there (a stamp records the installed pyproject.toml and lock).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# --- Debian packages ---------------------------------------------------------------------
missing=()
command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)
command -v opusenc >/dev/null 2>&1 || missing+=(opus-tools)
# The built-in data is played on several pianos (neuro_codec/data/pianos.py).
command -v timidity >/dev/null 2>&1 || missing+=(timidity)
[ -f /etc/timidity/freepats.cfg ] || missing+=(freepats)
[ -f /usr/share/sounds/sf2/sf_GMbank.sf2 ] || missing+=(csound-soundfont)
# MuseScore General: the held-out piano, never trained on.
[ -f /usr/share/sounds/sf3/MuseScore_General_Lite.sf3 ] || missing+=(musescore-general-soundfont-small)
# Headless Chromium opens the listening page from file:// in tests/test_report.py.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # --no-install-recommends: fluidsynth's recommends pull in Qt and GTK, chromium's a desktop.
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python 3.10 virtual environment ------------------------------------------------------
# lava-nc 0.10.0 (the last release) supports Python 3.10 only.
if [ ! -x .venv/bin/python ]; then
  py=""
  for cand in "$(command -v python3.10 || true)" "$(pyenv root 2>/dev/null)/versions/$(cat .python-version)/bin/python" \
              "$HOME/.pyenv/versions/$(cat .python-version)/bin/python"; do
    if [ -n "$cand" ] && [ -x "$cand" ]; then py="$cand"; break; fi
  done
  if [ -z "$py" ]; then
    py=$(ls -d "$HOME"/.pyenv/versions/3.10*/bin/python 2>/dev/null | head -n1 || true)
  fi
  [ -n "$py" ] || { echo "error: Python 3.10 not found (install it, e.g. pyenv install 3.10)" >&2; exit 1; }
  log "creating .venv with $py"
  "$py" -m venv .venv
fi

# Installs the exact lock (every package pinned, with hashes), then the project without
# dependencies: version ranges alone let a new upload (torchaudio 2.11.1, which does not load
# with torch 2.11.0) break every fresh machine. scripts/lock.sh refreshes the lock.
lock=requirements/lock-py310.txt
stamp=.venv/.neuro-codec-installed
want=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing $lock and the project into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade "pip==25.3"
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r "$lock"
  .venv/bin/python -m pip install -q --no-deps -e .
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; echo "error: the installed packages do not agree (pip check above); refresh the lock with scripts/lock.sh" >&2; exit 1; }
  .venv/bin/python scripts/check_install.py || exit 1
  echo "$want" > "$stamp"
fi
