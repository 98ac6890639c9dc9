"""Checks, right after installing, that the packages the project needs load together.

A wrong pair (torchaudio built for another torch, say) otherwise shows up as one traceback per
test file. This prints one line naming the package and the torch it was loaded with, and exits 1.
"""

from __future__ import annotations

import importlib
import sys


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _check(module: str, dist: str, probe=None) -> str | None:
    try:
        mod = importlib.import_module(module)
        if probe is not None:
            probe(mod)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"error: {dist} {_version(dist)} does not load with torch {_version('torch')}"
            f" (numpy {_version('numpy')}): {type(exc).__name__}: {first[:300]}"
        )
    return None


def _torchaudio_extension(mod) -> None:
    # The compiled extension (libtorchaudio.so) is loaded lazily; a filter call forces it.
    import torch

    mod.functional.lfilter(torch.zeros(1, 8), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]))


def main() -> int:
    checks = [
        ("torch", "torch", None),
        ("torchaudio", "torchaudio", _torchaudio_extension),
        ("snntorch", "snntorch", None),
        ("torchmetrics", "torchmetrics", None),
        ("soundfile", "soundfile", None),
    ]
    if sys.version_info < (3, 11):
        checks += [("lava.magma.core.run_configs", "lava-nc", None), ("nir", "nir", None)]
    for module, dist, probe in checks:
        message = _check(module, dist, probe)
        if message is not None:
            print(message, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
