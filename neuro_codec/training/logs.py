"""A run's logs: `log.csv` (a row every `log_every` steps), `val.csv` (a row per checkpoint),
reading them back (a resumed run's clock), bringing an older release's logs to this release's
columns (`upgrade_log`, on resume), and `curves.png`, plotted from both."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from neuro_codec.coding.costs import min_exact_bits
from neuro_codec.data.audio import bits_per_second
from neuro_codec.model.codec import Codec, RVQCodec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOG_FIELDS = ("step", "loss", "recon", "mel", "stft", "wave", "silence", "commit", "penalty",
              "beta", "synops_mops", "ops_penalty", "lr", "event_rate", "kbps", "fixed_point",
              "seconds")
VAL_FIELDS = ("step", "val_loss", "val_recon", "val_event_rate", "val_synops_mops",
              "val_mel_distance", "val_si_snr_db", "val_visqol", "seconds")
# the model's terms
LOSS_TERMS = ("recon", "mel", "stft", "wave", "silence", "commit")
# Columns of older releases that this one no longer writes: the joint diffusion refiner's
# loss (removed; always 0 in the runs that can still be resumed, whose decoder had no such
# refiner). `upgrade_log` drops them, so that those runs' logs can be continued.
RETIRED_COLUMNS = ("diffusion", "val_diffusion")


def start_log(path: str | os.PathLike, columns: tuple[str, ...]) -> None:
    """A new CSV file holding only its header (replaces an old one)."""
    with open(path, "w", newline="") as f:
        csv.writer(f).writerow(columns)


def append_row(path: str | os.PathLike, columns: tuple[str, ...], row: dict) -> None:
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow([row[k] for k in columns])


def upgrade_log(path: str | os.PathLike, columns: tuple[str, ...],
                keep_up_to: int | None = None) -> None:
    """Bring a log to this release's `columns` before a resumed run appends to it: the missing
    values empty, the `RETIRED_COLUMNS` dropped, and with `keep_up_to` the rows past that step
    dropped (a run killed after its last checkpoint logged steps that the resumed run will
    log again; their seconds would also count the lost time). A missing log (a run continued
    from its weights alone) is started.

    Raises:
        ValueError: the log has another column this release does not write.
    """
    if not Path(path).exists():
        start_log(path, columns)
        return
    with open(path, newline="") as f:
        header = next(csv.reader(f), None)
    if header is None:
        start_log(path, columns)
        return
    unknown = set(header) - set(columns) - set(RETIRED_COLUMNS)
    if unknown:
        raise ValueError(f"{path} has columns this release does not write: {sorted(unknown)}")
    rows = read_log(path)
    kept = [r for r in rows if keep_up_to is None or int(r["step"]) <= keep_up_to]
    if tuple(header) == columns and len(kept) == len(rows):
        return
    tmp = Path(f"{path}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([[r.get(k, "") for k in columns] for r in kept])
    os.replace(tmp, path)


def read_log(path: str | os.PathLike) -> list[dict]:
    """The rows of a log (strings by column); none if it does not exist."""
    if not Path(path).exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def logged_seconds(log_path: str | os.PathLike) -> float:
    """Training seconds already logged (so that a resumed run's clock continues)."""
    rows = read_log(log_path)
    return float(rows[-1]["seconds"]) if rows else 0.0


def best_exact_bits(z: torch.Tensor) -> torch.Tensor:
    """Per clip, payload bits of the cheapest exact format (what `.snc` would store)."""
    _, n, t = z.shape
    counts = z.sum(dim=(1, 2)).long().tolist()
    return torch.tensor([min_exact_bits(n, t, s) for s in counts], dtype=torch.float64)


def train_row(step: int, loss: torch.Tensor, terms: dict[str, torch.Tensor],
              penalty: torch.Tensor, beta: float, lr: float, z: torch.Tensor, model: Codec,
              seconds: float, ops_penalty: torch.Tensor | None = None) -> dict:
    """A row of `log.csv` (`LOG_FIELDS`) for the batch that gave `z` ([B, N, T] events, or
    RVQ codes): the loss and its terms, the encoder's spiking synaptic operations (M/s of
    audio) and their budget's hinge, the step's learning rate `lr`, the event rate and the
    payload in kbit/s."""
    samples = z.shape[-1] * model.hop
    if isinstance(model, RVQCodec):  # fixed: Q codes of log2(size) bits per frame
        bits = model.rvq_config.bits_per_frame * z.shape[-1]
        rate = float("nan")
    else:
        bits = float(best_exact_bits(z.detach()).mean())
        rate = z.mean().item()
    return {"step": step, "loss": loss.item(), **{k: terms[k].item() for k in LOSS_TERMS},
            "penalty": penalty.item(), "beta": beta,
            "synops_mops": terms["synops_mops"].item() if "synops_mops" in terms
            else float("nan"),
            "ops_penalty": 0.0 if ops_penalty is None else ops_penalty.item(),
            "lr": lr, "event_rate": rate,
            "kbps": bits_per_second(bits, samples) / 1e3, "fixed_point": int(model.loihi_fixed),
            "seconds": round(seconds, 2)}


def plot_log(rows: Sequence[dict], val: Sequence[dict] = ()) -> Figure | None:
    """Training curves (loss terms, event rate, bitrate) and, if `val` has rows, validation
    quality; the rows are `read_log`'s. Returns the figure, or None without rows."""
    from neuro_codec.figures import pyplot

    if not rows:
        return None
    plt = pyplot()
    step = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 5 if val else 3, figsize=(21 if val else 13, 3.6))
    for key, ax_i, label in (("loss", 0, "total"), ("recon", 0, "reconstruction"),
                             ("silence", 0, "silence term"),
                             ("event_rate", 1, "event rate"), ("kbps", 2, "payload kbps")):
        if rows[0].get(key, "") == "":   # a column older logs lack
            continue
        axes[ax_i].plot(step, [float(r[key]) for r in rows], label=label, lw=0.8)
    axes[0].set_yscale("log")
    axes[0].set_title("training loss")
    axes[0].legend()
    axes[1].set_title("event rate (z); grey, right: spiking synops M/s")
    ops = [(s, float(r["synops_mops"])) for s, r in zip(step, rows)
           if r.get("synops_mops", "") not in ("", "nan")]   # older logs and RVQ have none
    if ops:
        axes[1].twinx().plot(*zip(*ops), color="0.5", lw=0.6)
    axes[2].set_title("bitrate, cheapest exact format")
    if val:
        vstep = [int(r["step"]) for r in val]
        axes[3].plot(vstep, [float(r["val_mel_distance"]) for r in val], "o-")
        axes[3].set_title("validation mel distance (first stage)")
        axes[4].plot(vstep, [float(r["val_si_snr_db"]) for r in val], "o-", label="SI-SNR dB")
        ax2 = axes[4].twinx()
        ax2.plot(vstep, [float(r["val_visqol"]) for r in val], "s-", color="C1", label="ViSQOL")
        axes[4].set_title("validation SI-SNR (o) and ViSQOL (s)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_curves(out: Path) -> None:
    """`out/curves.png` from `out/log.csv` and `out/val.csv` (nothing before the first row)."""
    from neuro_codec.figures import save_figure

    fig = plot_log(read_log(out / "log.csv"), read_log(out / "val.csv"))
    if fig is not None:
        save_figure(fig, out / "curves.png")
