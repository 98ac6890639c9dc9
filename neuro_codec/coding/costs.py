"""What storing the event matrix z ∈ {0,1}^(N×T) costs, in bits, without storing it.

Two cost models: the exact payload sizes of the `.snc` formats (docs/bitstream.md, "Payload
formats"), which `formats.py` writes bit for bit and training logs as the bitrate, and the
paper's costs (docs/paper.md, "3. Storage costs"), which the SPARSE penalty differentiates.
No file code here: training imports this module, not the formats or the container.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

from neuro_codec.errors import BitstreamError


class EventFormat(str, Enum):
    """Payload formats of the event matrix; the value is the name used on the command line."""

    DENSE = "dense"
    COO = "coo"
    CSR_UNIT = "csr_unit"
    CSC_TIME = "csc_time"
    ENTROPY = "entropy"

    @property
    def code(self) -> int:
        """The format byte of the `.snc` header (0 dense … 4 entropy)."""
        return _FORMAT_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> EventFormat:
        """The format with header byte `code`; BitstreamError if there is none."""
        for fmt, c in _FORMAT_CODES.items():
            if c == code:
                return fmt
        raise BitstreamError(f"unknown format code {code} (known: 0-{len(_FORMAT_CODES) - 1})")

    @classmethod
    def parse(cls, value: str | EventFormat) -> EventFormat:
        """The format named `value` (e.g. "csr_unit"); ValueError naming the known ones."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown event format {value!r} (known: {names})") from None


_FORMAT_CODES = {
    EventFormat.DENSE: 0,
    EventFormat.COO: 1,
    EventFormat.CSR_UNIT: 2,
    EventFormat.CSC_TIME: 3,
    EventFormat.ENTROPY: 4,
}
# The formats whose size is a function of N, T and S alone (the entropy format's is measured).
EXACT_FORMATS = (EventFormat.DENSE, EventFormat.COO, EventFormat.CSR_UNIT, EventFormat.CSC_TIME)


# ---------------------------------------------------------------------------------------------
# The exact costs: what the .snc payloads take


def bit_width(x: int) -> int:
    """w(x) = ⌈log2 x⌉ for x ≥ 2, else 0: the bits of a field holding a value in [0, x)."""
    x = int(x)
    return (x - 1).bit_length() if x >= 2 else 0


def payload_bits(fmt: EventFormat | str, n_units: int, n_frames: int, n_events: int) -> int:
    """Exact payload size of an exact format (docs/bitstream.md), N units, T frames, S events.

        dense    N·T
        coo      S·(w(T) + w(N))
        csr_unit N·w(S+1) + S·w(T)
        csc_time T·w(S+1) + S·w(N)

    Raises:
        ValueError: `fmt` is the entropy format (its size is measured, not computed).
    """
    fmt = EventFormat.parse(fmt)
    n, t, s = int(n_units), int(n_frames), int(n_events)
    if fmt is EventFormat.DENSE:
        return n * t
    if fmt is EventFormat.COO:
        return s * (bit_width(t) + bit_width(n))
    if fmt is EventFormat.CSR_UNIT:
        return n * bit_width(s + 1) + s * bit_width(t)
    if fmt is EventFormat.CSC_TIME:
        return t * bit_width(s + 1) + s * bit_width(n)
    raise ValueError("the entropy format has no closed-form size; measure it with encode_payload")


def cheapest_exact(n_units: int, n_frames: int, n_events: int) -> tuple[EventFormat, int]:
    """The exact format with the smallest payload for N, T, S and its bits (ties go to the
    lower format code): what `.snc`'s "auto" weighs the entropy format against."""
    return min(((f, payload_bits(f, n_units, n_frames, n_events)) for f in EXACT_FORMATS),
               key=lambda fb: (fb[1], fb[0].code))


def min_exact_bits(n_units: int, n_frames: int, n_events: int) -> int:
    """Payload bits of the cheapest exact format for N, T, S."""
    return cheapest_exact(n_units, n_frames, n_events)[1]


# ---------------------------------------------------------------------------------------------
# The paper's costs: what the training penalty differentiates


@dataclass(frozen=True)
class PaperCosts:
    """The paper's storage costs in bits (Lisboa & Bellec 2024, Fig. 1), lg = ⌈log2⌉:

    B_dense = N·T, B_COO = S(lg T + lg N), B_CU = S lg T + (N+1) lg S,
    B_CT = S lg N + (T+1) lg S. Ints, or tensors shaped like S.
    """

    dense: Any  # B_dense, bits
    coo: Any  # B_COO, bits: a (time, unit) index pair per event
    cu: Any  # B_CU, bits: "compress unit", a time per event + N+1 row pointers
    ct: Any  # B_CT, bits: "compress time", a unit per event + T+1 column pointers

    def best(self) -> Any:
        """min(B_dense, B_COO, B_CU, B_CT), elementwise."""
        return _minimum(_minimum(self.dense, self.coo), _minimum(self.cu, self.ct))


def is_tensor(x: Any) -> bool:
    """Whether `x` is a torch tensor. torch is not imported to find out: a tensor can only
    exist once something else has imported it, and the file code (`.snc` reading and
    writing, `neuro-codec info | pack | unpack`) runs without torch."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _lg(x: Any) -> Any:
    """lg x = ⌈log2 x⌉ for x > 1, else 0 (so lg 0 = lg 1 = 0); a constant for tensors."""
    if is_tensor(x):
        import torch

        x = x.detach()
        return torch.where(x > 1, torch.ceil(torch.log2(x.clamp_min(1))), torch.zeros_like(x))
    if x <= 1:
        return 0
    if float(x).is_integer():
        return bit_width(int(x))  # exact for large integers, where log2 would round
    return math.ceil(math.log2(x))


def _minimum(a: Any, b: Any) -> Any:
    if is_tensor(a) or is_tensor(b):
        import torch

        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))
    return min(a, b)


def paper_costs(n_events: Any, n_units: int, n_frames: int) -> PaperCosts:
    """The paper's four storage costs for S = `n_events` (int, or a float tensor of any shape).

    The gradient w.r.t. a tensor S flows through the linear S terms only: lg S is a step
    function, so it is treated as a constant (as the paper's loss does).

    Args:
        n_events: S, events per matrix: an int, or a tensor [*batch] (may require grad).
        n_units: N.
        n_frames: T.
    Returns:
        PaperCosts of ints, or of tensors shaped like S.
    """
    s, n, t = n_events, int(n_units), int(n_frames)
    lg_n, lg_t, lg_s = _lg(n), _lg(t), _lg(s)
    dense = n * t
    if is_tensor(s):
        import torch

        dense = torch.full_like(s, float(dense)).detach()
    return PaperCosts(
        dense=dense,
        coo=s * (lg_t + lg_n),
        cu=s * lg_t + (n + 1) * lg_s,
        ct=s * lg_n + (t + 1) * lg_s,
    )


def sparse_storage_cost(n_events: Any, n_units: int, n_frames: int) -> Any:
    """min(B_COO, B_CU, B_CT): the sparse cost of the SPARSE model's loss (divide by 80·T).

    Args/Returns as `paper_costs`; elementwise over a tensor S, with gradient through the
    cheapest format's S term.
    """
    c = paper_costs(n_events, n_units, n_frames)
    return _minimum(_minimum(c.coo, c.cu), c.ct)
