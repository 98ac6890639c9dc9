"""Test-suite set-up. Tiny fixture factories live in `factories.py`.

`neuro_codec` must also run on Python 3.12, where Lava (3.10 only) is not installed: there the
conversion and hardware test files are skipped, with the reason in pytest's summary (`-rs`),
and everything else runs (test_energy.py's snnTorch-backend tests included).
"""

import importlib.util

import pytest

NEEDS_LAVA = {"test_counts.py", "test_lava_graph.py", "test_nir_export.py",
              "test_same_events.py", "test_simulate.py"}   # test_energy.py skips its own
HAVE_LAVA = bool(importlib.util.find_spec("lava") and importlib.util.find_spec("nir"))
LAVA_MISSING = ("needs Lava and NIR (the `lava` extra, Python 3.10 only); not installed in "
                "this environment")


class _SkippedModule(pytest.Module):
    """A test file that needs Lava, where Lava is missing: collected as one skip with its
    reason, without importing the file (its imports would fail)."""

    def collect(self):
        pytest.skip(LAVA_MISSING)


def pytest_pycollect_makemodule(module_path, parent):
    if not HAVE_LAVA and module_path.name in NEEDS_LAVA:
        return _SkippedModule.from_parent(parent, path=module_path)
    return None
