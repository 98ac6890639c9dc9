"""The whole codec as one module: spiking encoder → events z → frame-rate decoder → waveform.

`Codec.forward` is the training step's computation (so DDP can wrap it): it encodes the clip,
runs the first stage, and returns its reconstruction loss terms and z. `encode` and `decode`
are the inference paths of the CLI and the evaluation; `decode` may refine the first stage's
waveform with a flow-matching postfilter (`model.refiner`), trained apart on frozen codecs.
`RVQCodec` is the RVQ baseline behind the same interface, plus its codes; `build_codec` picks
the class of a model kind.
"""

from __future__ import annotations

import torch
from torch import nn

from neuro_codec.data.audio import SAMPLE_RATE_HZ
from neuro_codec.model.decoder import DecoderConfig, FirstStage, istft
from neuro_codec.model.encoder import EncoderConfig, SpikingEncoder
from neuro_codec.model.losses import LossConfig, reconstruction_loss
from neuro_codec.model.presets import ModelKind
from neuro_codec.model.refiner import RefinerNetwork, refine_audio
from neuro_codec.model.rvq import RVQConfig, RVQEncoder


def _check_configs(encoder_config: EncoderConfig, decoder_config: DecoderConfig) -> None:
    if encoder_config.frame_samples != decoder_config.frame_samples:
        raise ValueError(f"encoder frame_samples={encoder_config.frame_samples} differs "
                         f"from decoder frame_samples={decoder_config.frame_samples}")
    if encoder_config.n_units != decoder_config.n_units:
        raise ValueError(f"encoder n_units={encoder_config.n_units} differs from decoder "
                         f"n_units={decoder_config.n_units}")
    if encoder_config.mu_levels != decoder_config.mu_levels:
        raise ValueError(f"encoder mu_levels={encoder_config.mu_levels} differs from "
                         f"decoder mu_levels={decoder_config.mu_levels}")


class Codec(nn.Module):
    """The spiking codec: spiking encoder and decoder (`RVQCodec`: the RVQ baseline's).

    A μ-SPARSE codec (`encoder_config.mu_levels` > 0) takes the level μ in `forward`,
    `encode` and `decode`; the decoder's config must have the same number of levels.
    `encode` returns what `decode` takes, for every kind.
    """

    rvq_config: RVQConfig | None = None     # the quantiser of `RVQCodec`; None here

    def __init__(self, encoder_config: EncoderConfig, decoder_config: DecoderConfig,
                 loss_config: LossConfig | None = None, encoder: nn.Module | None = None):
        super().__init__()
        _check_configs(encoder_config, decoder_config)
        self.encoder = SpikingEncoder(encoder_config) if encoder is None else encoder
        self.first_stage = FirstStage(decoder_config)
        self.loss_config = loss_config or LossConfig()
        # Quantisation-aware training: encode with Loihi's fixed-point arithmetic (bit-exact
        # with Lava's fixed_pt models, straight-through gradients); see fixed_point.py.
        self.loihi_fixed = False

    @property
    def cfg(self) -> DecoderConfig:
        return self.first_stage.cfg

    @property
    def hop(self) -> int:
        return self.cfg.frame_samples

    @property
    def mu_levels(self) -> int:
        return self.cfg.mu_levels

    def _latent(self, audio: torch.Tensor, mu=None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(z [B, N, T], the quantiser's commitment loss: 0 for spiking models, the encoder's
        spiking synaptic operations per clip [B] (`SpikingEncoder.spiking_synops`), or None
        where there are none to count: the RVQ baseline, and a fixed-point batch of mixed
        μ-SPARSE levels, which runs level by level without a trace)."""
        mixed = torch.is_tensor(mu) and mu.dim() == 1
        if self.loihi_fixed:
            from neuro_codec.model.fixed_point import fixed_point_forward

            if mixed:
                return (fixed_point_forward(self.encoder, audio, mu=mu).to(audio.dtype),
                        audio.new_zeros(()), None)
            z, trace = fixed_point_forward(self.encoder, audio, return_trace=True, mu=mu)
            trace.layers = [layer.to(audio.dtype) for layer in trace.layers]
        else:
            z, trace = self.encoder(audio, return_trace=True, mu=mu)
        return (z.to(audio.dtype), audio.new_zeros(()),
                self.encoder.spiking_synops(trace).to(audio.dtype))

    def forward(self, audio: torch.Tensor, mu: torch.Tensor | None = None
                ) -> tuple[dict, torch.Tensor]:
        """Training computation.

        Args:
            audio: [B, L] clean waveforms, L a multiple of the hop.
            mu: [B] μ-SPARSE levels (mu-sparse models only).
        Returns:
            (terms, z [B, N, T]); terms holds the first stage's "mel", "stft", "wave",
            "silence" and weighted "recon" losses, the RVQ's "commit" loss (0 for spiking
            models) and their sum "loss". For the RVQ baseline z is the quantised latent.
        """
        z, commit, synops = self._latent(audio, mu)
        x_hat = istft(self.first_stage(z, mu), self.cfg, audio.shape[-1])
        terms = reconstruction_loss(x_hat, audio, self.loss_config)
        terms["recon"] = terms.pop("loss")
        terms["commit"] = commit
        terms["loss"] = terms["recon"] + commit
        # Not a loss term: the training loop prices it (an energy budget), and logs it.
        seconds = audio.shape[-1] / SAMPLE_RATE_HZ
        terms["synops_mops"] = (synops.mean() / seconds / 1e6 if synops is not None
                                else audio.new_full((), float("nan")))
        return terms, z

    @torch.no_grad()
    def first_stage_audio(self, audio: torch.Tensor, mu: torch.Tensor | None = None
                          ) -> torch.Tensor:
        """The first stage's waveform [B, L] for `audio` [B, L], from the codec's own events
        (or the RVQ's quantised latent): what a postfilter refiner learns to refine."""
        z, _, _ = self._latent(audio, mu)
        return istft(self.first_stage(z.float(), mu), self.cfg, audio.shape[-1])

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, mu: int | None = None) -> torch.Tensor:
        """[B, L] or [L] waveform → z [B, N, ⌈L/hop⌉] (0/1, float), in the input's dtype: what
        `decode` takes."""
        return self.encoder(audio, mu=mu)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, n_samples: int, steps: int = 0,
               generator: torch.Generator | None = None, mu: torch.Tensor | int | None = None,
               refiner: RefinerNetwork | None = None) -> torch.Tensor:
        """z [B, N, T] → waveforms [B, n_samples] (float32, on z's device).

        Args:
            steps: the refiner's Euler steps; 0 returns the first stage alone, as does a
                decode without `refiner`.
            mu: μ-SPARSE levels: an int, [B], or [B, T] (one per frame).
            refiner: a flow-matching postfilter (`model.refiner`) that refines the first
                stage's waveform, its noise drawn from `generator`.
        """
        if mu is not None and not torch.is_tensor(mu):
            mu = torch.full((z.shape[0],), int(mu), dtype=torch.long)
        if steps < 0:
            raise ValueError(f"steps must be ≥ 0, got {steps}")
        z = z.float()
        x = istft(self.first_stage(z, mu), self.cfg, z.shape[-1] * self.hop)
        if refiner is not None:
            x = refine_audio(refiner, x, steps, generator)
        return x[:, :n_samples].clamp(-1.0, 1.0)


class RVQCodec(Codec):
    """The RVQ baseline: the spiking codec's layers without spikes and a residual vector
    quantiser (`RVQEncoder`). `encode` gives the quantised latent [B, D, T] that `decode`
    takes, as the spiking codec's z; `encode_codes` and `decode_codes` are its file's side."""

    def __init__(self, encoder_config: EncoderConfig, decoder_config: DecoderConfig,
                 rvq_config: RVQConfig, loss_config: LossConfig | None = None):
        _check_configs(encoder_config, decoder_config)
        if encoder_config.mu_levels:
            raise ValueError("the RVQ baseline has no compression levels")
        super().__init__(encoder_config, decoder_config, loss_config,
                         encoder=RVQEncoder(encoder_config, rvq_config))
        self.rvq_config = rvq_config

    def _latent(self, audio: torch.Tensor, mu=None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        z, _, commit = self.encoder(audio)
        return z, commit, None

    @torch.no_grad()
    def encode(self, audio: torch.Tensor, mu: int | None = None) -> torch.Tensor:
        """[B, L] or [L] waveform → the quantised latent [B, D, ⌈L/hop⌉] `decode` takes."""
        if mu is not None:
            raise ValueError("the RVQ baseline has no compression level μ")
        return self.encoder(audio if audio.dim() == 2 else audio[None])[0]

    @property
    def codebooks(self) -> int:
        """Q, the codebooks the model has: a file may hold the first K ≤ Q of them."""
        return self.rvq_config.codebooks

    def _check_codebooks(self, codebooks: int) -> int:
        if not 1 <= codebooks <= self.codebooks:
            raise ValueError(f"codebooks must be in [1, {self.codebooks}] for this model, "
                             f"got {codebooks}")
        return codebooks

    @torch.no_grad()
    def encode_codes(self, audio: torch.Tensor, codebooks: int | None = None) -> torch.Tensor:
        """[B, L] or [L] waveform → codes [B, K, ⌈L/hop⌉] (int64) of the first K = `codebooks`
        codebooks (None: all Q), what `.rvq` stores. They are the first K of the Q codes:
        stage k quantises the residual of the stages before it, never of those after.

        Raises:
            ValueError: K outside 1..Q.
        """
        k = self.codebooks if codebooks is None else self._check_codebooks(codebooks)
        return self.encoder(audio if audio.dim() == 2 else audio[None])[1][:, :k]

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor, n_samples: int, **kwargs) -> torch.Tensor:
        """Codes [B, K, T] of the first K ≤ Q codebooks → waveforms [B, n_samples] (see
        `decode`), from the sum of those K codebooks' entries.

        Raises:
            ValueError: K outside 1..Q.
        """
        return self.decode(self.encoder.dequantize(codes), n_samples, **kwargs)


def build_codec(kind: ModelKind | str, encoder_config: EncoderConfig,
                decoder_config: DecoderConfig, rvq_config: RVQConfig | None = None,
                loss_config: LossConfig | None = None) -> Codec:
    """The codec of a model kind: `RVQCodec` for RVQ (with `rvq_config`), else `Codec`. The
    one place a kind chooses the class.

    Raises:
        ValueError: an RVQ kind without `rvq_config`, or another kind with one.
    """
    if ModelKind(kind) is ModelKind.RVQ:
        if rvq_config is None:
            raise ValueError("the RVQ baseline needs an RVQConfig")
        return RVQCodec(encoder_config, decoder_config, rvq_config, loss_config)
    if rvq_config is not None:
        raise ValueError(f"a {ModelKind(kind).value} codec has no RVQConfig")
    return Codec(encoder_config, decoder_config, loss_config)
