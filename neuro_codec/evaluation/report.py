"""The listening page (`neuro-codec report`): every codec of a rate–quality run side by side on
a few excerpts, to hear (players) and to see (spectrograms, event rasters), with the run's table
and figures, the same codecs on excerpts played by a piano they never heard, the energy table
and the selectivity figure.

In: a finished run of `benchmarks/rate_quality.py` (its per-clip CSV, table, figures and the
clips it kept, `decoded_clips.py`), and optionally the held-out piano's folder of a run of
`benchmarks/generalization.py` (its clips, and its rows of the run's CSV) and the folders of
`python -m hardware.energy` and `neuro-codec analyze`. Nothing is decoded: the page plays the
files that were scored, and shows the CSVs' numbers. Out: index.html with its audio/ and
figures/ and report.json (what the page holds), built in a temporary folder and renamed
(`fileio.atomic_folder`).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from neuro_codec.data.audio import load_audio
from neuro_codec.data.pianos import PIANOS
from neuro_codec.errors import BitstreamError, ReportError
from neuro_codec.evaluation.decoded_clips import (
    INDEX_NAME,
    DecodedClips,
    ReferenceClip,
    read_decoded_clips,
    slug,
)
from neuro_codec.evaluation.report_figures import SpectrogramConfig, plot_clip, reference_peak
from neuro_codec.evaluation.report_page import Excerpt, Page, Section, Track, markdown_html
from neuro_codec.figures import save_figure
from neuro_codec.fileio import atomic_path, write_bytes_atomic

PAGE_KIND = "neuro-codec listening page"
PAGE_VERSION = 1
TABLE_CSV, TABLE_MD = "rate_quality.csv", "rate_quality.md"
KEY_COLUMNS = ("codec", "clip")
TEXT_COLUMNS = ("format",)
# benchmarks/generalization.py --out DIR: one CSV and table for every piano set (its `pianos`
# column names the set), and each set's kept clips in DIR/<set>/.
GENERALIZATION_CSV, GENERALIZATION_MD = "generalization.csv", "generalization.md"
GENERALIZATION_PNG = "generalization.png"
HELD_OUT_SET = "held-out"


@dataclass(frozen=True)
class RateQualityRun:
    """A finished rate–quality run, read and checked (`read_run`); or the held-out piano set of
    a generalization run, read the same way (`read_held_out`)."""

    clips: DecodedClips
    metrics: dict[tuple[str, str], dict[str, float]]   # (codec, clip) → numeric CSV columns
    table_md: str | None                               # rate_quality.md, if there
    figures: dict[str, Path]                           # fig4ab.png, fig4c.png: those there

    @property
    def folder(self) -> Path:
        return self.clips.folder


def read_metrics(path: Path, where: dict[str, str] | None = None,
                 ) -> dict[tuple[str, str], dict[str, float]]:
    """The per-clip CSV's numeric columns by (codec, clip), in the CSV's column order.

    A column is numeric when every value parses as a float ("nan" included) or is empty (a
    metric that does not apply to a codec: NaN): columns added to the benchmark later appear on
    the page without a change here.

    Args:
        where: only the rows whose columns hold these values (e.g. {"pianos": "held-out"}:
            one piano set of a generalization run, whose sets share clip names).
    """
    where = where or {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ReportError(f"cannot read {path}: {e}") from None
    keys = (*KEY_COLUMNS, *where)
    rows = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    if not rows or any(k not in rows[0] for k in keys):
        raise ReportError(f"{path} has no rows with columns {', '.join(keys)}" + (
            f" where {', '.join(f'{k} is {v}' for k, v in where.items())}" if where else ""))

    def number(text: str | None) -> float | None:
        if text is not None and not text.strip():
            return float("nan")
        try:
            return float(text)
        except (TypeError, ValueError):
            return None

    numeric = [c for c in rows[0] if c not in keys + TEXT_COLUMNS
               and all(number(r[c]) is not None for r in rows)
               and any((r[c] or "").strip() for r in rows)]
    return {(r["codec"], r["clip"]): {c: number(r[c]) for c in numeric} for r in rows}


def read_run(folder: str | Path) -> RateQualityRun:
    """Read a rate–quality run's folder (`benchmarks/rate_quality.py --out`).

    Raises:
        ReportError: not a run with saved clips, a missing clip, or a clip without its row.
    """
    clips = read_decoded_clips(folder)
    csv_path = clips.folder / TABLE_CSV
    if not csv_path.is_file():
        raise ReportError(f"{clips.folder} is not a finished rate–quality run: no {TABLE_CSV}")
    metrics = read_metrics(csv_path)
    for d in clips.decoded:
        if (d.codec, d.clip) not in metrics:
            raise ReportError(f"{csv_path} has no row for {d.codec} on {d.clip}")
    md = clips.folder / TABLE_MD
    figures = {name: clips.folder / name for name in ("fig4ab.png", "fig4c.png")
               if (clips.folder / name).is_file()}
    return RateQualityRun(clips, metrics, md.read_text(encoding="utf-8") if md.is_file()
                          else None, figures)


def read_held_out(folder: str | Path) -> RateQualityRun:
    """Read the held-out piano's folder of a generalization run (`benchmarks/generalization.py
    --out DIR` → DIR/held-out): its kept clips, its rows of DIR/generalization.csv (the run's
    numbers for that piano set), DIR/generalization.md and generalization.png.

    Raises:
        ReportError: not such a folder, a run that did not finish or kept no clips, a missing
            clip, or a clip without its row.
    """
    folder = Path(folder)
    expected = (f"expected DIR/{HELD_OUT_SET}, DIR the --out of "
                f"benchmarks/generalization.py")
    if not folder.is_dir():
        raise ReportError(f"{folder} is not a folder ({expected})")
    if folder.name != HELD_OUT_SET:
        inside = folder / HELD_OUT_SET
        raise ReportError(f"{folder} is not the held-out piano's folder of a generalization run "
                          + (f"(give {inside})" if inside.is_dir() else f"({expected})"))
    csv_path = folder.parent / GENERALIZATION_CSV
    if not csv_path.is_file():
        raise ReportError(f"{folder} is not the held-out piano's folder of a finished "
                          f"generalization run: no {GENERALIZATION_CSV} in {folder.parent}")
    if not (folder / INDEX_NAME).is_file():
        raise ReportError(f"{folder} holds no kept clips: no {INDEX_NAME} (the generalization "
                          f"run did not finish, or ran with --no-clips)")
    clips = read_decoded_clips(folder)
    metrics = read_metrics(csv_path, {"pianos": folder.name})
    for d in clips.decoded:
        if (d.codec, d.clip) not in metrics:
            raise ReportError(f"{csv_path} has no {folder.name} row for {d.codec} on {d.clip}")
    md = folder.parent / GENERALIZATION_MD
    png = folder.parent / GENERALIZATION_PNG
    return RateQualityRun(clips, metrics, md.read_text(encoding="utf-8") if md.is_file()
                          else None, {png.name: png} if png.is_file() else {})


def piano_label(name: str) -> str:
    """A piano's name for people ("csound GM bank grand"); an unknown name as it is."""
    return PIANOS[name].label if name in PIANOS else name


@dataclass(frozen=True)
class SideReport:
    """A figure or table made by another command (energy, selectivity), read and checked."""

    folder: Path
    markdown: str
    images: tuple[Path, ...]


def read_energy(folder: str | Path) -> SideReport:
    """`python -m hardware.energy --out` → its report.md (and energy.png)."""
    folder = Path(folder)
    md = folder / "report.md"
    if not md.is_file():
        raise ReportError(f"{folder} holds no energy report (no report.md; make one with "
                          f"python -m hardware.energy --out {folder})")
    png = folder / "energy.png"
    return SideReport(folder, md.read_text(encoding="utf-8"), (png,) if png.is_file() else ())


def read_selectivity(folder: str | Path) -> SideReport:
    """`neuro-codec analyze --out` → selectivity.png and a table from selectivity.json."""
    folder = Path(folder)
    png, js = folder / "selectivity.png", folder / "selectivity.json"
    if not png.is_file():
        raise ReportError(f"{folder} holds no selectivity figure (no selectivity.png; make it "
                          f"with neuro-codec analyze --checkpoint FREE.pt SPARSE.pt --out "
                          f"{folder})")
    md = ""
    if js.is_file():
        try:
            summary = json.loads(js.read_text(encoding="utf-8"))
            lines = ["| model | events per clip | selective units | peak ÷ baseline |",
                     "|---|---:|---:|---:|"]
            lines += [f"| {label} | {s['events_per_clip']:.0f} | {s['selective_units']} of "
                      f"{s['units']} | {s['peak_over_baseline']:.2f} |"
                      for label, s in summary.items()]
            md = "\n".join(lines)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError,
                TypeError, ValueError) as e:
            raise ReportError(f"{js} is not a readable selectivity summary ({e!r})") from None
    return SideReport(folder, md, (png,))


def choose_excerpts(clips: list[ReferenceClip], n: int) -> list[ReferenceClip]:
    """Up to `n` clips, one per piece before any second of the same piece, in the run's order
    (the run takes pieces in turn from each source: the first clips span the kinds of music)."""
    firsts, seconds, seen = [], [], set()
    for c in clips:
        (seconds if c.piece in seen else firsts).append(c)
        seen.add(c.piece)
    return (firsts + seconds)[:n]


def check_destination(out: Path) -> None:
    """Refuse to replace a folder that is not a listening page (e.g. `--out .` or the run)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ReportError(f"--out {out} is a file, not a folder")
    if any(out.iterdir()):
        try:
            kind = json.loads((out / "report.json").read_text(encoding="utf-8")).get("kind")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            kind = None
        if kind != PAGE_KIND:
            raise ReportError(f"--out {out} holds other files and no listening page: give a "
                              f"new or empty folder, or a page's own")


class _Folder:
    """Places files in the page's folder: files already inside it stay where they are."""

    def __init__(self, root: Path):
        self.root = root.resolve()

    def place(self, src: Path, rel: str) -> str:
        src = src.resolve()
        if src.is_relative_to(self.root):
            return src.relative_to(self.root).as_posix()
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return rel

    def save_figure(self, fig, rel: str) -> str:
        save_figure(fig, self.root / rel, dpi=fig.dpi)
        return rel


def _excerpt(run: RateQualityRun, ref: ReferenceClip, folder: _Folder,
             spec: SpectrogramConfig, prefix: str = "") -> tuple[Excerpt, dict]:
    """An excerpt's cards; its files go to audio/`prefix`<clip>/ and figures/`prefix`<clip>/
    (a prefix keeps apart runs whose clips share names: the same pieces on other pianos)."""
    from neuro_codec.coding.bitstream import read_snc

    rate, hop = run.clips.sample_rate_hz, run.clips.hop_samples
    base = prefix + slug(ref.clip)
    x = load_audio(ref.audio, rate, quiet=True)
    peak = reference_peak(x, spec, rate)
    played = "" if ref.piano is None else f", played by {piano_label(ref.piano)}"
    tracks = [Track("reference", folder.place(ref.audio, f"audio/{base}/reference.flac"),
                    folder.save_figure(plot_clip(x, peak, None, spec, rate, hop),
                                       f"figures/{base}/reference.png"), x.size / rate,
                    note=f"the excerpt{played}: {x.size / rate:.2f} s at {rate:,} Hz, 16-bit "
                         f"FLAC; the decoded clips below are scored against it")]
    for d in run.clips.of_clip(ref.clip):
        y = load_audio(d.audio, rate, quiet=True)
        try:
            z = None if d.events is None else read_snc(d.events)[1]
        except BitstreamError as e:
            raise ReportError(f"{d.events}: {e}") from None
        name = slug(d.codec)
        tracks.append(Track(
            d.codec, folder.place(d.audio, f"audio/{base}/{name}.flac"),
            folder.save_figure(plot_clip(y, peak, z, spec, rate, hop),
                               f"figures/{base}/{name}.png"),
            y.size / rate, run.metrics[(d.codec, d.clip)],
            None if z is None else int(z.sum())))
    record = {"clip": ref.clip, "piano": ref.piano, "tracks": [
        {"codec": t.codec, "audio": t.audio, "image": t.image, "duration_s": t.duration_s,
         "events": t.events} for t in tracks]}
    return Excerpt(ref.clip, tracks), record


def _held_out_sections(run: RateQualityRun, parts: list[Excerpt], folder: _Folder,
                       main: list[Excerpt]) -> list[Section]:
    """The held-out piano's excerpts under their heading, then the generalization table."""
    pianos = [piano_label(p) for p in dict.fromkeys(
        c.piano for c in run.clips.clips if c.piano is not None)]
    named = ", ".join(pianos) or "the held-out piano"
    command = run.clips.command or f"python -m benchmarks.generalization --out {run.folder.parent}"
    seconds = f" of {parts[0].tracks[0].duration_s:.2f} s" if parts else ""
    # Both runs take the test split's clips in the same order: often the same passages.
    same = [e.clip for e in parts if e.clip in {m.clip for m in main}]
    same = (f"; {', '.join(same)} {'is' if len(same) == 1 else 'are'} also above, played by "
            "the test split's own piano" if same else "")
    table = (markdown_html(run.table_md) if run.table_md
             else f"<p>The run left no {GENERALIZATION_MD}.</p>")
    return [
        Section("held-out", f"Played by a piano it never heard ({named})",
                f"The same codecs on {len(parts)} test excerpts{seconds} played by {named}, a "
                "piano kept out of training, as the generalization run scored them (its "
                f"numbers, its files; spectrograms and rasters drawn as above){same}.",
                command, "" if parts else "<p>The run holds no clip.</p>",
                excerpts=tuple(parts), excerpt_label="Held-out piano, excerpt"),
        Section("generalization", "Seen pianos against the held-out piano",
                f"Every codec over the generalization run's test clips played by the training "
                f"pianos (seen) and by {named} (held-out), mean ± sd: rate, quality, the noise "
                "floor between partials (quiet-bin LSD) and the output where the reference is "
                "silent and before notes that follow a silence (pre-echo).",
                command, table,
                tuple(folder.place(p, f"figures/{name}") for name, p in run.figures.items())),
    ]


def _sections(run: RateQualityRun, folder: _Folder, energy: SideReport | None,
              selectivity: SideReport | None, held_out: Sequence[Section] = ()) -> list[Section]:
    n_clips = len(run.clips.clips)
    command = run.clips.command or f"python -m benchmarks.rate_quality --out {run.folder}"
    figs = {k: folder.place(p, f"figures/{k}") for k, p in run.figures.items()}
    sections = [Section(
        "rate-quality", "Rate–quality table",
        f"Rate and quality of every codec over the run's {n_clips} test clips (mean ± sd; "
        "payload kbps is the coded file's payload, Opus's the whole .opus file), and each "
        "clip's bitrate against its SI-SNR, ViSQOL and mel distance (the paper's Figure 4A/B).",
        command, markdown_html(run.table_md) if run.table_md else
        "<p>The run left no rate_quality.md.</p>",
        tuple(v for k, v in figs.items() if k == "fig4ab.png"))]
    if "fig4c.png" in figs:
        sections.append(Section(
            "levels", "μ-SPARSE's events at several levels",
            "The events z of one clip coded by the μ-SPARSE model at each level μ: the higher "
            "μ, the fewer events (the paper's Figure 4C).", command, "", (figs["fig4c.png"],)))
    sections += held_out
    sel_cmd = "neuro-codec analyze --checkpoint FREE.pt SPARSE.pt --out DIR"
    sel_sentence = ("How each unit's events line up with the key strikes of six notes "
                    "(A1–A6): the event–onset correlation of the most selective units and "
                    "the distribution of their peak prominence (the paper's Figure 5).")
    if selectivity is None:
        sections.append(Section("selectivity", "Selectivity of the events for piano notes",
                                 sel_sentence, sel_cmd, "<p>Not on this page: make it with "
                                 "the command above and pass <code>--selectivity DIR</code> "
                                 "to <code>neuro-codec report</code>.</p>"))
    else:
        sections.append(Section(
            "selectivity", "Selectivity of the events for piano notes", sel_sentence,
            sel_cmd.replace("DIR", str(selectivity.folder)), markdown_html(selectivity.markdown),
            tuple(folder.place(p, f"figures/{p.name}") for p in selectivity.images)))
    en_cmd = "python -m hardware.energy --checkpoint CKPT [CKPT …] --split test --out DIR"
    en_sentence = ("Events, operations and estimated energy per second of audio of each "
                   "spiking encoder, counted in Lava's Loihi simulation (an estimate: see "
                   "docs/energy.md).")
    if energy is None:
        sections.append(Section("energy", "Energy of the spiking encoders", en_sentence, en_cmd,
                                "<p>Not on this page: make it with the command above and "
                                "pass <code>--energy DIR</code> to "
                                "<code>neuro-codec report</code>.</p>"))
    else:
        summary, _, per_layer = energy.markdown.partition("\n### ")
        summary = "\n".join(line for line in summary.splitlines() if not line.startswith("# "))
        body = markdown_html(summary) + (
            "<details><summary>per layer</summary>" + markdown_html("### " + per_layer)
            + "</details>" if per_layer else "")
        sections.append(Section("energy", "Energy of the spiking encoders", en_sentence,
                                en_cmd.replace("DIR", str(energy.folder)), body,
                                tuple(folder.place(p, f"figures/{p.name}")
                                      for p in energy.images)))
    return sections


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_report(run: RateQualityRun, out: str | Path, excerpts: int = 4,
                 energy: SideReport | None = None, selectivity: SideReport | None = None,
                 command: str = "", spec: SpectrogramConfig | None = None,
                 progress: bool = False, held_out: RateQualityRun | None = None,
                 held_out_excerpts: int = 2) -> dict:
    """Write the page into the folder `out` (the caller's staging folder, `atomic_folder`).

    Args:
        excerpts: how many of the run's clips the page plays (one per piece first).
        held_out: a generalization run's held-out piano folder (`read_held_out`), or None.
        held_out_excerpts: how many of its clips the page plays (one per piece first).
    Returns:
        the page's record (also written as report.json): excerpts, tracks, sizes.
    """
    from neuro_codec.evaluation.report_page import render_page

    out = Path(out)
    spec = spec or SpectrogramConfig()
    folder = _Folder(out)
    chosen = choose_excerpts(run.clips.clips, excerpts)
    parts, records = [], []
    for ref in tqdm(chosen, disable=not progress, desc="excerpts"):
        part, record = _excerpt(run, ref, folder, spec)
        parts.append(part)
        records.append(record)
    held_parts, held_records = [], []
    if held_out is not None:
        for ref in tqdm(choose_excerpts(held_out.clips.clips, held_out_excerpts),
                        disable=not progress, desc="held-out piano"):
            part, record = _excerpt(held_out, ref, folder, spec, prefix=f"{HELD_OUT_SET}/")
            held_parts.append(part)
            held_records.append(record)
    sections = _sections(run, folder, energy, selectivity, [] if held_out is None
                         else _held_out_sections(held_out, held_parts, folder, parts))
    codecs = run.clips.codecs
    page = Page(
        title="neuro-codec: every codec, side by side",
        intro=(f"{len(codecs)} codecs on {len(parts)} test excerpts of "
               f"{parts[0].tracks[0].duration_s:.2f} s, as the rate–quality run scored them: "
               "each player plays the decoded file the numbers beside it were measured on. "
               "Spectrograms of one excerpt share one colour scale (dB re the reference's "
               "loudest bin; frequency on a log axis). Under each spiking model's spectrogram, "
               "its events z on the same time axis: one row per unit, one column per "
               f"{run.clips.hop_samples}-sample frame, black where the unit fired."
               + (f" Further down, {len(held_parts)} excerpts played by a piano the models "
                  "never heard." if held_out is not None else "")
               if parts else "The run holds no clip."),
        excerpts=parts, sections=sections,
        footer=f"Made by {command or 'neuro-codec report'} from {run.folder}. Opens from the "
               "file system: no server, no network; every file is in this folder.")
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(render_page(page), encoding="utf-8")
    record = {"kind": PAGE_KIND, "version": PAGE_VERSION, "source": str(run.folder),
              "command": command, "codecs": codecs, "excerpts": records,
              "held_out": None if held_out is None else {
                  "source": str(held_out.folder), "codecs": held_out.clips.codecs,
                  "excerpts": held_records},
              "bytes": folder_bytes(out)}
    write_bytes_atomic(out / "report.json", (json.dumps(record, indent=1, ensure_ascii=False)
                                             + "\n").encode("utf-8"))
    return record


def megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{math.ceil(n_bytes / 1e3)} kB"

