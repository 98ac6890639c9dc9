"""The `neuro-codec` command as a whole: the small commands start without torch, the public API
still imports by name, and a command's flags are added when that command is parsed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neuro_codec
from neuro_codec.cli import CommandParser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchaudio", "snntorch")

# The CLI in a fresh interpreter, as `neuro-codec ARGS` runs it; the last line of stdout lists
# the exit code and the heavy modules it imported (argparse's --help exits with SystemExit).
PROBE = f"""
import json, sys
from neuro_codec.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print()
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def run_cli(*args: str) -> tuple[dict, str]:
    r = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    *lines, last = r.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(lines)


def test_help_info_pack_unpack_import_no_torch(tmp_path):
    z = (np.random.default_rng(0).random((80, 64)) < 0.05).astype(np.uint8)
    np.save(tmp_path / "z.npy", z)
    snc, back = tmp_path / "z.snc", tmp_path / "back.npy"

    result, out = run_cli("pack", str(tmp_path / "z.npy"), str(snc))
    assert result == {"code": 0, "heavy": []}
    assert f"N=80 T=64 S={int(z.sum())}" in out
    result, out = run_cli("info", str(snc))
    assert result == {"code": 0, "heavy": []}
    assert f"events S         {int(z.sum())}" in out
    result, _ = run_cli("unpack", str(snc), str(back))
    assert result == {"code": 0, "heavy": []}
    assert np.array_equal(np.load(back), z)
    result, out = run_cli("--help")
    assert result == {"code": 0, "heavy": []}
    assert "encode" in out and "analyze" in out


@pytest.mark.parametrize("command", ["data", "pack", "unpack", "info", "encode", "decode", "eval",
                                     "analyze", "report"])
def test_every_commands_help_imports_no_torch(command):
    # The flags' defaults and choices (model kinds, steps, clip length) come from
    # torch-free modules; only `data`'s actions (`data render --help`) read a torch module's.
    result, out = run_cli(command, "--help")
    assert result == {"code": 0, "heavy": []}
    assert f"usage: neuro-codec {command} " in " ".join(out.split())


def test_a_command_with_deferred_flags_shows_them_in_its_help():
    # `encode` adds its flags when parsed: their choices and defaults come from the model.
    result, out = run_cli("encode", "--help")
    text = " ".join(out.split())   # argparse wraps to the terminal's width
    assert result["code"] == 0
    assert "--model {free,sparse,mu-sparse,rvq}" in text and "(default sparse)" in text
    assert "(default 5.94 s;" in text


def test_the_public_api_imports_by_name_and_lazily():
    r = subprocess.run([sys.executable, "-c", "import sys, neuro_codec; "
                        "print('torch' in sys.modules)"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr[-3000:]
    from neuro_codec import EventFormat, SpikingEncoder, read_snc
    from neuro_codec.coding.bitstream import read_snc as defined
    from neuro_codec.coding.costs import EventFormat as fmt
    from neuro_codec.model.encoder import SpikingEncoder as encoder

    assert (read_snc, EventFormat, SpikingEncoder) == (defined, fmt, encoder)
    assert all(getattr(neuro_codec, name) is not None for name in neuro_codec.__all__)
    assert set(neuro_codec.__all__) <= set(dir(neuro_codec))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        neuro_codec.nope  # noqa: B018


def test_a_command_parser_adds_its_flags_on_first_use_only():
    calls = []

    def add(p):
        calls.append(p)
        p.add_argument("--level", type=int, default=7)

    parser = CommandParser(prog="x")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("deferred", help="added late", arguments=add)
    sub.add_parser("other", help="nothing to add")
    assert "deferred" in parser.format_help() and calls == []
    assert parser.parse_args(["other"]).command == "other" and calls == []
    assert parser.parse_args(["deferred"]).level == 7
    assert parser.parse_args(["deferred", "--level", "3"]).level == 3
    assert len(calls) == 1
