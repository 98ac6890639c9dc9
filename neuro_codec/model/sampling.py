"""The refiner's sampling choices as the commands offer them: the samplers and the default
number of steps.

The samplers themselves are `neuro_codec.model.diffusion`'s (diffusers); these names live
apart so that `neuro-codec decode --help` and `eval --help` show them without importing torch.
"""

from __future__ import annotations

SAMPLERS = ("ddim", "dpmpp")   # DDIM (the paper's, 100 steps); DPM-Solver++ (10–25 steps)
DEFAULT_STEPS = 4              # refiner steps of `Codec.decode` when none are asked for
