"""The exact locks agree with pyproject: every locked top-level dependency satisfies its range.

A range changed in pyproject without `bash scripts/lock.sh` fails here, in CI, before a fresh
machine installs a lock that no longer matches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {  # lock file → (python_version it is for, extras it holds)
    "lock-py310.txt": ("3.10", ("lava", "dev")),
    "lock-py312.txt": ("3.12", ("dev",)),
}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def read_lock(path: Path) -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def requirements(python_version: str, extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    env = {"python_version": python_version, "python_full_version": f"{python_version}.0",
           "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    reqs = [Requirement(line) for line in lines]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_satisfies_pyproject(lock):
    python_version, extras = LOCKS[lock]
    pins = read_lock(ROOT / "requirements" / lock)
    assert len(pins) > 50, f"{lock} holds only {len(pins)} pins"
    for req in requirements(python_version, extras):
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock} does not pin {req.name}, which pyproject requires"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}: "
            f"run bash scripts/lock.sh")


def test_lock_has_hashes_and_the_torch_pair():
    text = (ROOT / "requirements" / "lock-py310.txt").read_text()
    pins = read_lock(ROOT / "requirements" / "lock-py310.txt")
    assert text.count("--hash=sha256:") >= len(pins)
    # torchaudio must be built for the locked torch (same release): 2.11.1 with torch 2.11.0
    # broke every fresh install once.
    assert pins["torchaudio"].release[:2] == pins["torch"].release[:2]
    assert "lava-nc" in pins and "lava-nc" not in read_lock(
        ROOT / "requirements" / "lock-py312.txt")


def test_lock_refuses_a_range_it_does_not_meet():
    # The check itself must fail on a disagreeing pin (a test that cannot fail checks nothing).
    assert not Requirement("torch>=2.12").specifier.contains(Version("2.11.0"))
    req = Requirement("numpy>=1.24,<2; python_version < '3.11'")
    assert req.marker.evaluate({"python_version": "3.10"})
    assert not req.marker.evaluate({"python_version": "3.12"})


def test_install_check_names_the_package_in_one_line():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_install",
                                                  ROOT / "scripts" / "check_install.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    assert check._check("json", "torchaudio") is None

    def broken(_mod):
        raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what\nmore")

    message = check._check("json", "torchaudio", broken)
    assert message.startswith("error: torchaudio ") and "with torch " in message
    assert "undefined symbol" in message and "\n" not in message
    assert check.main() == 0  # the installed set loads
