"""v-objective diffusion on waveforms: the training loss and the samplers.

The noise schedule and samplers are diffusers' (cosine "squaredcos_cap_v2" schedule over 1,000
training steps, `prediction_type="v_prediction"`): x_t = α_t x_0 + σ_t ε, the network predicts
v = α_t ε − σ_t x_0 and is trained with MSE, as the paper's VDiffusion. Samplers:

- "ddim": DDIM, deterministic (η = 0); the paper's setting is 100 steps.
- "dpmpp": DPM-Solver++ (2nd order multistep), the fast sampler for 10–25 steps.

Both use "trailing" timestep spacing, so the first step starts from pure noise (t = 999).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from neuro_codec.model.sampling import SAMPLERS

TRAIN_TIMESTEPS = 1000
_SCHEDULE = dict(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                 prediction_type="v_prediction")

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _scheduler(sampler: str):
    if sampler == "ddim":
        return DDIMScheduler(**_SCHEDULE, clip_sample=False, set_alpha_to_one=True,
                             timestep_spacing="trailing")
    if sampler == "dpmpp":
        return DPMSolverMultistepScheduler(**_SCHEDULE, algorithm_type="dpmsolver++",
                                           solver_order=2, timestep_spacing="trailing")
    raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")


class VDiffusion:
    """The forward process and v-target (training) on diffusers' DDPM schedule."""

    def __init__(self):
        self.schedule = DDPMScheduler(**_SCHEDULE)

    def loss(self, denoise: Denoiser, x0: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """MSE between predicted and true v at uniformly drawn timesteps.

        Args:
            denoise: (x_t [B,1,L], t [B]) → v̂ [B,1,L].
            x0: clean (scaled) waveforms [B, 1, L].
        """
        t = torch.randint(0, TRAIN_TIMESTEPS, (x0.shape[0],), device=x0.device,
                          generator=generator)
        noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
        x_t = self.schedule.add_noise(x0, noise, t)
        v = self.schedule.get_velocity(x0, noise, t)
        return torch.mean((denoise(x_t, t) - v) ** 2)


@torch.no_grad()
def sample(denoise: Denoiser, shape: tuple[int, ...], steps: int = 25, sampler: str = "dpmpp",
           generator: torch.Generator | None = None, device: torch.device | str = "cpu",
           progress: bool = False) -> torch.Tensor:
    """Draw x_0 by integrating the reverse process from pure noise.

    Args:
        denoise: (x_t, t [B]) → v̂, conditioned already (a closure over the context).
        shape: [B, 1, L].
        steps: number of network evaluations.
        sampler: "ddim" or "dpmpp".
    Returns:
        x_0 estimate of `shape`.
    """
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    scheduler = _scheduler(sampler)
    scheduler.set_timesteps(steps, device=device)
    x = torch.randn(shape, generator=generator, device=device) * scheduler.init_noise_sigma
    for t in tqdm(scheduler.timesteps, disable=not progress, desc=f"{sampler} sampling",
                  leave=False):
        tt = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        x = scheduler.step(denoise(scheduler.scale_model_input(x, t), tt), t, x).prev_sample
    return x
