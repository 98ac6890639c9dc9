"""The RVQ baseline: the spiking encoder's layers without spikes, then a residual vector quantiser.

The comparison the paper makes is between a binary event code and a conventional learned code
at the same 80 bits per frame. To make it about the code and not the network, the baseline
keeps the spiking encoder's layout and sizes exactly: frame t's 512 samples → Linear
(banded Gabor initialisation and the same band mask) → LeakyReLU → an Elman recurrence of the
same width (torch's `nn.RNN`, tanh: the same W, R and bias as the recurrent LIF layer, plus a
second bias) → Linear to 80 latent dimensions → `vector_quantize_pytorch.ResidualVQ` with 8
codebooks × 1,024 entries (10 bits each: 80 bits per frame, 3,445 bps), EMA codebooks and
dead-code replacement. The decoder, losses and recipe are the spiking models'. Its codes go in
their own container (`rvq_file.py`), not `.snc`: they are indices, not binary events.

Any first K ≤ Q codebooks decode (K·10 bits per frame): residual stage k only refines what the
stages before it left, so the first K codes are those a K-stage quantiser would choose. With
quantiser dropout (EnCodec, SoundStream) training codes each batch with a random K, so that one
model is trained for every rate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from neuro_codec.data.audio import frame_audio
from neuro_codec.model.encoder import EncoderConfig, gabor_bank


@dataclass(frozen=True)
class RVQConfig:
    """The residual vector quantiser.

    Fields:
        codebooks: residual stages Q (the paper's 8).
        codebook_size: entries per codebook (1,024: 10 bits per code).
        decay: EMA decay of the codebook updates.
        commitment_weight: weight of the commitment loss (encoder output → its code).
        dead_code_threshold: a code used fewer times than this (EMA count) is replaced by a
            random encoder output of the batch (keeps all 1,024 entries in use).
        quantize_dropout: quantiser dropout in training: each batch is coded with the first K
            codebooks only, K uniform in dropout_min_codebooks..codebooks (the library's
            `quantize_dropout`), so that decoding with fewer codebooks is trained too. Off in
            the paper's baseline.
        dropout_min_codebooks: the smallest K quantiser dropout draws (1..codebooks).
    """

    codebooks: int = 8
    codebook_size: int = 1024
    decay: float = 0.99
    commitment_weight: float = 1.0
    dead_code_threshold: int = 2
    quantize_dropout: bool = False
    dropout_min_codebooks: int = 1

    def __post_init__(self):
        if self.codebooks < 1 or self.codebook_size < 2:
            raise ValueError(f"need ≥ 1 codebook of ≥ 2 entries, got {self.codebooks} × "
                             f"{self.codebook_size}")
        if self.codebook_size & (self.codebook_size - 1):
            raise ValueError(f"codebook_size must be a power of two (whole bits per code), "
                             f"got {self.codebook_size}")
        if not isinstance(self.quantize_dropout, bool):
            raise ValueError(f"quantize_dropout must be true or false, got "
                             f"{self.quantize_dropout!r}")
        if not 1 <= self.dropout_min_codebooks <= self.codebooks:
            raise ValueError(f"dropout_min_codebooks must be in [1, {self.codebooks}], got "
                             f"{self.dropout_min_codebooks}")

    @property
    def code_bits(self) -> int:
        return int(math.log2(self.codebook_size))

    @property
    def bits_per_frame(self) -> int:
        return self.codebooks * self.code_bits

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RVQConfig:
        return cls(**d)


class RVQEncoder(nn.Module):
    """Waveform → (quantised latent [B, D, T], codes [B, Q, T], commitment loss).

    D = `encoder_config.n_units` (80), so that the decoder takes the quantised latent where
    the spiking models' decoder takes z. In training with quantiser dropout the batch's last
    Q − K codebooks are dropped: their codes are −1 and the latent sums the first K.
    """

    def __init__(self, encoder_config: EncoderConfig, rvq_config: RVQConfig):
        super().__init__()
        cfg = encoder_config
        self.config = cfg
        self.rvq_config = rvq_config
        sizes = (cfg.frame_samples, *cfg.layer_sizes)
        layers = []
        for i, recurrent in enumerate(cfg.layer_recurrent):
            if recurrent:
                layers.append(nn.RNN(sizes[i], sizes[i + 1], batch_first=True))
            else:
                layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        self.layers = nn.ModuleList(layers)
        self.act = nn.LeakyReLU(0.1)
        if cfg.input_init == "gabor" or cfg.input_support == "banded":
            weights, mask = gabor_bank(cfg)
            first = self.layers[0]
            weight = first.weight if isinstance(first, nn.Linear) else first.weight_ih_l0
            with torch.no_grad():
                if cfg.input_init == "gabor":
                    weight.copy_(weights)
                elif cfg.input_support == "banded":
                    weight.mul_(mask)
            if cfg.input_support == "banded":
                self.register_buffer("input_mask", mask.float(), persistent=False)
                weight.register_hook(lambda g: g * self.input_mask.to(g.dtype))
        self.quantizer = ResidualVQ(
            dim=cfg.n_units, num_quantizers=rvq_config.codebooks,
            codebook_size=rvq_config.codebook_size, decay=rvq_config.decay,
            commitment_weight=rvq_config.commitment_weight, kmeans_init=False,
            threshold_ema_dead_code=rvq_config.dead_code_threshold,
            # K is drawn from torch's global RNG (the library's `get_maybe_sync_seed`), which
            # the training loop seeds per step before the forward pass: resume repeats it.
            quantize_dropout=rvq_config.quantize_dropout,
            quantize_dropout_cutoff_index=rvq_config.dropout_min_codebooks - 1)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous encoder output before quantisation, [B, T, D]."""
        if x.dim() == 1:
            x = x.unsqueeze(0)
        h = frame_audio(x, self.config.frame_samples) * self.config.input_gain  # [B, T, F]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)[0] if isinstance(layer, nn.RNN) else layer(h)
            if i < last and not isinstance(layer, nn.RNN):
                h = self.act(h)
        return h

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, samples] → (quantised [B, D, T], codes [B, Q, T] int64, commitment loss [])."""
        quantised, codes, commit = self.quantizer(self.latent(x))
        return quantised.transpose(1, 2), codes.transpose(1, 2), commit.sum()

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, T] of the first K ≤ Q codebooks → the quantised latent [B, D, T] the
        decoder reads: the sum of those K codebooks' entries (a code of −1 adds nothing).

        Raises:
            ValueError: K outside 1..Q.
        """
        q = self.rvq_config.codebooks
        if not 1 <= codes.shape[1] <= q:
            raise ValueError(f"codes of {codes.shape[1]} codebooks; the model has {q}")
        # The library takes fewer than Q codebooks only from a model trained with dropout;
        # padding with its "dropped" code −1 decodes the first K of any model.
        codes = nn.functional.pad(codes.long(), (0, 0, 0, q - codes.shape[1]), value=-1)
        out = self.quantizer.get_output_from_indices(codes.transpose(1, 2))
        return out.transpose(1, 2)
