"""The whole codec as one module: spiking encoder → events z → context → diffusion U-Net.

`Codec.forward` is the training step's computation (so DDP can wrap it): it encodes the clip,
integrates the context and returns the diffusion loss with z. `encode` and `decode` are the
inference paths used by the CLI and the evaluation.
"""

from __future__ import annotations

import torch
from torch import nn

from neuro_codec.decoder import ContextIntegrator, DecoderConfig, UNet1d
from neuro_codec.diffusion import VDiffusion, sample
from neuro_codec.encoder import EncoderConfig, SpikingEncoder


class Codec(nn.Module):
    def __init__(self, encoder_config: EncoderConfig, decoder_config: DecoderConfig):
        super().__init__()
        if encoder_config.frame_samples != decoder_config.hop_samples:
            raise ValueError(f"encoder frame_samples={encoder_config.frame_samples} differs "
                             f"from decoder hop_samples={decoder_config.hop_samples}")
        if encoder_config.n_units != decoder_config.n_units:
            raise ValueError(f"encoder n_units={encoder_config.n_units} differs from decoder "
                             f"n_units={decoder_config.n_units}")
        self.encoder = SpikingEncoder(encoder_config)
        self.context = ContextIntegrator(decoder_config)
        self.unet = UNet1d(decoder_config)
        self.diffusion = VDiffusion()
        # Quantisation-aware training: encode with Loihi's fixed-point arithmetic (bit-exact
        # with Lava's fixed_pt models, straight-through gradients); see fixed_point.py.
        self.loihi_fixed = False

    @property
    def hop(self) -> int:
        return self.unet.cfg.hop_samples

    def _padded_frames(self, n_frames: int) -> int:
        """Frames after padding so that frames·hop is a multiple of the U-Net's total stride."""
        per = self.unet.cfg.total_stride // self.hop
        return -(-n_frames // per) * per

    def forward(self, audio: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training computation.

        Args:
            audio: [B, L] clean waveforms, L a multiple of the hop.
        Returns:
            (diffusion loss (scalar), z [B, N, T]).
        """
        if self.loihi_fixed:
            from neuro_codec.fixed_point import fixed_point_forward

            z = fixed_point_forward(self.encoder, audio).to(audio.dtype)
        else:
            z = self.encoder(audio)
        n_pad = self._padded_frames(z.shape[-1])
        cond = self.context(nn.functional.pad(z, (0, n_pad - z.shape[-1])))
        x0 = nn.functional.pad(audio, (0, n_pad * self.hop - audio.shape[-1]))
        x0 = (x0 * self.unet.cfg.signal_scale).unsqueeze(1)
        loss = self.diffusion.loss(lambda x_t, t: self.unet(x_t, t, cond), x0, generator)
        return loss, z

    @torch.no_grad()
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, L] or [L] waveform → z [B, N, ⌈L/hop⌉] (0/1, float). Runs in the input's dtype."""
        return self.encoder(audio)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, n_samples: int, steps: int = 25, sampler: str = "dpmpp",
               generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
        """z [B, N, T] → waveforms [B, n_samples] (float32, on z's device)."""
        z = z.float()
        n_frames = z.shape[-1]
        n_pad = self._padded_frames(n_frames)
        cond = self.context(nn.functional.pad(z, (0, n_pad - n_frames)))
        shape = (z.shape[0], 1, n_pad * self.hop)
        x = sample(lambda x_t, t: self.unet(x_t, t, cond), shape, steps=steps, sampler=sampler,
                   generator=generator, device=z.device, progress=progress)
        return (x[:, 0, :n_samples] / self.unet.cfg.signal_scale).clamp(-1.0, 1.0)


def build_codec(ckpt: dict, source: str = "checkpoint") -> Codec:
    """The full codec of a loaded checkpoint, in eval mode.

    Raises:
        CheckpointError: no decoder in it, or configs that do not match the weights.
    """
    from neuro_codec.checkpoint import build_encoder
    from neuro_codec.errors import CheckpointError

    if not ckpt.get("decoder"):
        raise CheckpointError(f"{source} holds no decoder (an encoder-only checkpoint)")
    try:
        codec = Codec(EncoderConfig.from_dict(ckpt["config"]["encoder"]),
                      DecoderConfig.from_dict(ckpt["config"]["decoder"]))
        codec.load_state_dict({**ckpt["decoder"], **{f"encoder.{k}": v
                                                    for k, v in ckpt["encoder"].items()}})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{source}: config does not match the weights ({first})") from None
    codec.encoder = build_encoder(ckpt, source)
    return codec.eval()
