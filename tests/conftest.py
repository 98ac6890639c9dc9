"""Test-suite set-up. Tiny fixture factories live in `factories.py`.

`neuro_codec` must also run on Python 3.12, where Lava (3.10 only) is not installed: there the
conversion and hardware tests are not collected, and everything else runs.
"""

import importlib.util

_NEEDS_LAVA = ["test_counts.py", "test_energy.py", "test_lava_graph.py", "test_nir_export.py",
               "test_simulate.py"]

collect_ignore = [] if importlib.util.find_spec("lava") and importlib.util.find_spec("nir") \
    else _NEEDS_LAVA
