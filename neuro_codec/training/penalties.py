"""The sparsity penalties: SPARSE's storage cost, μ-SPARSE's event-rate hinge, the encoder's
operations budget, and β schedules.

Penalty (docs/paper.md §4, the authors' "brute" loss, B0 = 80 bits/frame):

    L_rep = max(0, mean_b[ min(B_COO, B_CU, B_CT)_b / (B0 · T) ] − θ)

with S_b = Σ z_b the events of clip b; the gradient reaches z through the terms linear in S
(the ⌈log2⌉ terms are piecewise constant). β starts at 0 and is raised twice during training
(the paper's "annealing … increasing it twice"): β(step) is a pure function of the step.
"""

from __future__ import annotations

import torch

from neuro_codec.coding.costs import sparse_storage_cost

B0_BITS_PER_FRAME = 80


def storage_penalty(z: torch.Tensor, theta: float) -> torch.Tensor:
    """max(0, mean_b[min(B_COO, B_CU, B_CT)/(B0·T)] − θ) for z [B, N, T] (differentiable)."""
    _, n_units, n_frames = z.shape
    n_events = z.sum(dim=(1, 2))
    cost = sparse_storage_cost(n_events, n_units, n_frames) / (B0_BITS_PER_FRAME * n_frames)
    return torch.clamp(cost.mean() - theta, min=0.0)


def mu_target_rate(mu: torch.Tensor) -> torch.Tensor:
    """The event rate level μ allows: 2^(−μ/3) (the authors' code: 80 events per frame at
    μ = 0, halving every 3 levels)."""
    return torch.pow(2.0, -mu.double() / 3.0)


def rate_penalty(z: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """μ-SPARSE's hinge, mean_b max(0, S_b/(N·T) − 2^(−μ_b/3)), for z [B, N, T] and levels
    [B] (differentiable through z).

    A hinge and not a target: below its allowance a level is free to use fewer events, so
    the rate at μ is the smaller of what the audio needs and what μ allows.
    """
    rate = z.mean(dim=(1, 2))
    allowed = mu_target_rate(mu).to(device=z.device, dtype=z.dtype)
    return torch.clamp(rate - allowed, min=0.0).mean()


def ops_penalty(synops_mops: torch.Tensor, budget_mops: float) -> torch.Tensor:
    """max(0, ops/budget − 1): the encoder's spiking synaptic operations per second of audio
    (`Codec.forward`'s "synops_mops", a batch mean) in excess of a budget, as a fraction of it.

    A hinge, as μ-SPARSE's: below the budget the encoder is free to spend what coding needs.
    Relative, so that one β means the same at any budget.
    """
    return torch.clamp(synops_mops / budget_mops - 1.0, min=0.0)


def sparsity_weight(step: int, total_steps: int,
                    schedule: tuple[tuple[float, float], ...]) -> float:
    """β at `step`: 0 until the first (fraction, β) point, then that β until the next, …

    Args:
        schedule: ((fraction_of_total_steps, β), …) in increasing fraction.
    """
    beta = 0.0
    for fraction, value in schedule:
        if step >= fraction * total_steps:
            beta = value
    return beta
