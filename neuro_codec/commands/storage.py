"""`neuro-codec pack | unpack | info`: event matrices to and from `.snc` files; `info` also
reads the `.rvq` code files of the RVQ baseline (told apart by their magic)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neuro_codec.coding.bitstream import (
    MAX_MODEL_ID_BYTES,
    SncHeader,
    file_bitrate_bps,
    payload_bitrate_bps,
    read_snc,
    read_snc_header,
    write_snc,
)
from neuro_codec.coding.costs import EventFormat
from neuro_codec.coding.formats import check_event_matrix
from neuro_codec.coding.rvq_file import RvqHeader, is_rvq, read_rvq_header
from neuro_codec.coding.rvq_file import file_bitrate_bps as rvq_file_bitrate_bps
from neuro_codec.coding.rvq_file import payload_bitrate_bps as rvq_payload_bitrate_bps
from neuro_codec.commands.arguments import int_in, positive_int, utf8_at_most
from neuro_codec.errors import CodecError, writing
from neuro_codec.fileio import atomic_path

FORMAT_CHOICES = ["auto"] + [f.value for f in EventFormat]


def register(sub) -> None:
    p = sub.add_parser("pack", help="store an event matrix (.npy, N×T of 0/1) as a .snc file")
    p.add_argument("events", help="input .npy file: an (N, T) array of 0/1")
    p.add_argument("output", help="output .snc file")
    p.add_argument("--format", default="auto", choices=FORMAT_CHOICES,
                   help="payload format; auto (default) picks the smallest")
    p.add_argument("--sample-rate", type=positive_int, default=22050,
                   help="audio sample rate in Hz (default 22050)")
    p.add_argument("--hop", type=int_in(1, 0xFFFF), default=512,
                   help="audio samples per frame (default 512)")
    p.add_argument("--n-samples", type=int_in(1, 0xFFFF_FFFF, "1, 2^32 - 1"), default=None,
                   help="number of audio samples coded, with ceil(n / hop) = T "
                        "(default T × hop)")
    p.add_argument("--model-id", type=utf8_at_most(MAX_MODEL_ID_BYTES), default="",
                   help="id of the encoder that made the events (default: empty)")
    p.set_defaults(func=run_pack)

    p = sub.add_parser("unpack", help="read a .snc file back into an .npy event matrix")
    p.add_argument("input", help="input .snc file")
    p.add_argument("output", help="output .npy file (uint8, shape (N, T))")
    p.set_defaults(func=run_unpack)

    p = sub.add_parser("info", help="show a .snc (or .rvq) file's header, size and bitrate")
    p.add_argument("input", help="input .snc file, or a .rvq file of RVQ codes")
    p.set_defaults(func=run_info)


def _load_events(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise CodecError(f"event file not found: {p}")
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise CodecError(f"{p} is not a readable .npy array ({e})") from None
    if not isinstance(z, np.ndarray):  # an .npz archive
        raise CodecError(f"{p} holds several arrays (.npz); give one (N, T) .npy array")
    return z


def run_pack(args: argparse.Namespace) -> int:
    # The flags' ranges are argparse's (usage errors); what is left depends on the file.
    z = check_event_matrix(_load_events(args.events))
    with writing(args.output):
        header = write_snc(args.output, z, args.format, sample_rate_hz=args.sample_rate,
                           hop_samples=args.hop, n_audio_samples=args.n_samples,
                           model_id=args.model_id)
    print(f"{args.output}: {header.format.value}, N={header.n_units} T={header.n_frames} "
          f"S={header.n_events}, payload {header.payload_bits} bits, "
          f"file {header.file_bytes} bytes, {payload_bitrate_bps(header):.1f} bps")
    return 0


def run_unpack(args: argparse.Namespace) -> int:
    _, z = read_snc(args.input)
    with writing(args.output), atomic_path(args.output) as tmp, open(tmp, "wb") as f:
        np.save(f, z, allow_pickle=False)  # a file object: np.save adds no ".npy" suffix
    print(f"{args.output}: uint8 {z.shape[0]}×{z.shape[1]}, {int(z.sum())} events")
    return 0


def compact_mu(mu: tuple[int, ...], max_runs: int = 12) -> str:
    """μ per segment as runs, e.g. (40, 40, 40, 80, 12) → "40×3, 80, 12"; past `max_runs`
    runs, the rest is counted ("…, 7 more runs")."""
    runs: list[list[int]] = []
    for v in mu:
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    text = [f"{v}×{k}" if k > 1 else str(v) for v, k in runs[:max_runs]]
    if len(runs) > max_runs:
        text.append(f"… {len(runs) - max_runs} more runs")
    return ", ".join(text)


def _describe_mu(header: SncHeader) -> list[str]:
    if not header.mu:
        return []
    if len(header.mu) == 1:
        return [f"mu (level)       {header.mu[0]} (one segment, all {header.n_frames} frames)"]
    return [f"mu (level)       {compact_mu(header.mu)} ({len(header.mu)} segments of "
            f"{header.mu_segment_frames} frames)"]


def describe(header: SncHeader, file_bytes: int) -> list[str]:
    """Lines of `neuro-codec info` for a header and the file's size."""
    return [
        f"version          {header.version}",
        f"format           {header.format.value} (code {header.format.code})",
        f"units N          {header.n_units}",
        f"frames T         {header.n_frames}",
        f"events S         {header.n_events}",
        f"event rate       {100 * header.event_rate:.3f} %",
        f"sample rate      {header.sample_rate_hz} Hz",
        f"hop              {header.hop_samples} samples",
        f"audio            {header.n_audio_samples} samples ({header.duration_s:.3f} s)",
        f"model id         {header.model_id!r}",
        *_describe_mu(header),
        f"payload          {header.payload_bits} bits "
        f"({header.payload_bits / header.n_frames:.2f} bits/frame)",
        f"file             {file_bytes} bytes ({8 * file_bytes} bits)",
        f"payload bitrate  {payload_bitrate_bps(header):.1f} bps",
        f"file bitrate     {file_bitrate_bps(header, file_bytes):.1f} bps",
    ]


def describe_rvq(header: RvqHeader, file_bytes: int) -> list[str]:
    """Lines of `neuro-codec info` for a `.rvq` header and the file's size."""
    return [
        "file type        .rvq (RVQ codes)",
        f"version          {header.version}",
        f"codebooks Q      {header.n_codebooks}",
        f"bits per code B  {header.codebook_bits} ({1 << header.codebook_bits} entries)",
        f"frames T         {header.n_frames}",
        f"sample rate      {header.sample_rate_hz} Hz",
        f"hop              {header.hop_samples} samples",
        f"audio            {header.n_audio_samples} samples ({header.duration_s:.3f} s)",
        f"model id         {header.model_id!r}",
        f"payload          {header.payload_bits} bits "
        f"({header.n_codebooks * header.codebook_bits} bits/frame)",
        f"file             {file_bytes} bytes ({8 * file_bytes} bits)",
        f"payload bitrate  {rvq_payload_bitrate_bps(header):.1f} bps",
        f"file bitrate     {rvq_file_bitrate_bps(header, file_bytes):.1f} bps",
    ]


def _magic(path: str) -> bytes:
    """The first 4 bytes of a file, or b"" (the reader then reports why it cannot read it)."""
    try:
        with open(path, "rb") as f:
            return f.read(4)
    except OSError:
        return b""


def run_info(args: argparse.Namespace) -> int:
    if is_rvq(_magic(args.input)):
        rvq = read_rvq_header(args.input)
        print("\n".join(describe_rvq(rvq, rvq.file_bytes)))
        return 0
    header = read_snc_header(args.input)
    print("\n".join(describe(header, header.file_bytes)))
    return 0
