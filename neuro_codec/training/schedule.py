"""The learning-rate schedule of both training loops (`loop.py`, `refiner_loop.py`): a pure
function of the step, so that a resumed run sets the rate the uninterrupted one would have."""

from __future__ import annotations

import math
from enum import Enum


class LRSchedule(str, Enum):
    """How the rate falls after the warm-up."""

    CONSTANT = "constant"         # stays at lr
    COSINE = "cosine"             # half a cosine from lr to final_lr_fraction · lr
    EXPONENTIAL = "exponential"   # geometric from lr to final_lr_fraction · lr


LR_SCHEDULES: tuple[str, ...] = tuple(s.value for s in LRSchedule)


def learning_rate(step: int, steps: int, lr: float, schedule: LRSchedule | str = "constant",
                  warmup_steps: int = 0, final_lr_fraction: float = 0.1) -> float:
    """The rate of 0-based step `step` of `steps`.

    Warm-up: lr · (step + 1)/warmup_steps for step < warmup_steps (lr/warmup at the first
    step, lr at the last). Then, with p = (step − warmup_steps)/max(1, steps − warmup_steps)
    clamped to [0, 1] and f = final_lr_fraction:
        constant:    lr
        cosine:      lr · (f + (1 − f) · (1 + cos πp)/2)
        exponential: lr · f^p
    so both decays reach f · lr at `steps`.

    Raises:
        ValueError: an unknown schedule.
    """
    schedule = LRSchedule(schedule)
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule is LRSchedule.CONSTANT:
        return lr
    progress = min(1.0, (step - warmup_steps) / max(1, steps - warmup_steps))
    f = final_lr_fraction
    if schedule is LRSchedule.COSINE:
        return lr * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * progress)))
    return lr * f ** progress
