"""The listening page's HTML: one self-contained file (style and script inline, no font, no
CDN) that `report.py` fills with the page's data and writes beside its audio and figures.

Only relative links, so the page opens from the file system and from any copy of its folder.
Two columns of players on a laptop, one below 800 px (a phone). A small script pauses the other
players when one starts, so that codecs are compared one at a time, and can restart each
player at the time the previous one was at (A/B listening).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import quote

# Metrics shown first on every player, in this order; any other numeric column of the run's
# CSV follows in the CSV's order (the table grows without the page changing).
LEADING_METRICS = ("payload_kbps", "si_snr_db", "mel_distance", "visqol")
METRIC_LABELS = {
    "payload_kbps": ("payload", "kbps", 3), "file_kbps": ("whole file", "kbps", 3),
    "si_snr_db": ("SI-SNR", "dB", 2), "mel_distance": ("mel distance", "", 4),
    "visqol": ("ViSQOL", "", 2), "event_rate": ("event rate", "per unit-frame", 4),
    "mu": ("mean μ", "", 1), "encode_x_realtime": ("encode", "× real time", 0),
    "decode_x_realtime": ("decode", "× real time", 0),
}


def metric_label(name: str) -> tuple[str, str, int | None]:
    """(label, unit, decimals) of a CSV column; an unknown column keeps its name."""
    return METRIC_LABELS.get(name, (name.replace("_", " "), "", None))


def format_value(name: str, value: float) -> str:
    if value != value:   # NaN: not measured for this codec (e.g. ViSQOL skipped)
        return "–"
    digits = metric_label(name)[2]
    return f"{value:.{digits}f}" if digits is not None else f"{value:.4g}"


@dataclass(frozen=True)
class Track:
    """One player: the reference or a codec's decoded clip."""

    codec: str                      # "reference" or the codec's name in the table
    audio: str                      # path relative to the page
    image: str                      # its spectrogram (+ raster) PNG, relative
    duration_s: float
    metrics: dict[str, float] = field(default_factory=dict)   # CSV columns, page order
    events: int | None = None       # events in z (spiking models)
    note: str = ""                  # a line under the picture (plain text), e.g. the format


@dataclass(frozen=True)
class Excerpt:
    clip: str                       # "piece@start_s"
    tracks: list[Track]


@dataclass(frozen=True)
class Section:
    """A figure or table of the run with what it shows and the command that made it; or the
    heading of further excerpts (another run's), which follow it as sections of their own (the
    A/B script pairs players within one section, so one excerpt is one section)."""

    anchor: str
    title: str
    sentence: str                   # what it shows, one sentence (plain text)
    command: str                    # the command that made it (plain text)
    body_html: str = ""             # a table (already HTML) or a note
    images: tuple[str, ...] = ()    # relative paths
    excerpts: tuple[Excerpt, ...] = ()   # excerpts under this heading, anchors <anchor>-1, …
    excerpt_label: str = "Excerpt"  # their headings: "<label> 1: <clip>"


@dataclass(frozen=True)
class Page:
    title: str
    intro: str                      # plain text
    excerpts: list[Excerpt]
    sections: list[Section]
    footer: str                     # plain text


def _url(path: str) -> str:
    return html.escape(quote(path, safe="/"))


def markdown_html(text: str) -> str:
    """The subset of Markdown the project's reports use, as HTML: `#` headings (as h4),
    pipe tables, paragraphs, `code` and **bold**. Everything else is escaped text."""
    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)

    out, para, rows = [], [], []

    def flush():
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if rows:
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            body = [r for r in cells[1:] if not all(set(c) <= set(":-") for c in r)]
            head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
            trs = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>"
                          for r in body)
            out.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                       f"<tbody>{trs}</tbody></table></div>")
            rows.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            if para:
                flush()
            rows.append(line)
        elif not line.strip():
            flush()
        elif line.startswith("#"):
            flush()
            out.append(f"<h4>{inline(line.lstrip('#').strip())}</h4>")
        else:
            if rows:
                flush()
            para.append(line.strip())
    flush()
    return "\n".join(out)


def _metrics_html(metrics: dict[str, float]) -> str:
    lead = [k for k in LEADING_METRICS if k in metrics]
    rest = [k for k in metrics if k not in LEADING_METRICS]

    def item(k: str) -> str:
        label, unit, _ = metric_label(k)
        return (f"<div><dt>{html.escape(label)}</dt><dd>{format_value(k, metrics[k])}"
                + (f" <span class=unit>{html.escape(unit)}</span>" if unit else "")
                + "</dd></div>")

    out = f'<dl class="lead">{"".join(item(k) for k in lead)}</dl>' if lead else ""
    if rest:
        out += (f'<details><summary>more</summary><dl>{"".join(item(k) for k in rest)}</dl>'
                f"</details>")
    return out


def _track_html(track: Track, clip: str) -> str:
    name = html.escape(track.codec)
    kbps = track.metrics.get("payload_kbps")
    badge = ("" if kbps is None else
             f'<span class="badge">{format_value("payload_kbps", kbps)} kbps</span>')
    what = "spectrogram" + (" and event raster" if track.events is not None else "")
    cls = "card ref" if track.codec == "reference" else "card"
    # Player and picture first: they line up across a row of cards, the numbers follow.
    return (f'<article class="{cls}"><h3>{name} {badge}</h3>'
            f'<audio controls preload="metadata" src="{_url(track.audio)}" '
            f'data-duration="{track.duration_s:.6f}"></audio>'
            f'<img src="{_url(track.image)}" '
            f'alt="{html.escape(what)} of {name} on {html.escape(clip)}">'
            + (f'<p class="note">{html.escape(track.note)}</p>' if track.note else "")
            + f"{_metrics_html(track.metrics)}</article>")


def _excerpt_html(anchor: str, heading: str, e: Excerpt) -> str:
    return (f'<section id="{anchor}"><h2>{html.escape(heading)}: {html.escape(e.clip)}</h2>'
            f'<div class="cards">{"".join(_track_html(t, e.clip) for t in e.tracks)}</div>'
            "</section>")


def _section_html(s: Section) -> str:
    images = "".join(f'<img class="wide" src="{_url(p)}" alt="{html.escape(s.title)}">'
                     for p in s.images)
    return (f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>'
            f'<p>{html.escape(s.sentence)}</p><p class="cmd">Made by <code>'
            f"{html.escape(s.command)}</code></p>{s.body_html}{images}</section>"
            + "".join(_excerpt_html(f"{s.anchor}-{i + 1}", f"{s.excerpt_label} {i + 1}", e)
                      for i, e in enumerate(s.excerpts)))


def render_page(page: Page) -> str:
    """The whole page as one HTML string."""
    nav = "".join(f'<a href="#ex{i + 1}">{html.escape(e.clip)}</a>'
                  for i, e in enumerate(page.excerpts))
    nav += "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in page.sections)
    excerpts = "".join(_excerpt_html(f"ex{i + 1}", f"Excerpt {i + 1}", e)
                       for i, e in enumerate(page.excerpts))
    return TEMPLATE.format(
        title=html.escape(page.title), intro=html.escape(page.intro), nav=nav,
        excerpts=excerpts, sections="".join(_section_html(s) for s in page.sections),
        footer=html.escape(page.footer), style=STYLE, script=SCRIPT)


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header><h1>{title}</h1><p>{intro}</p>
<p class="ab"><label><input type="checkbox" id="ab" checked> A/B: a player that starts
picks up where the last one stopped</label></p>
<nav>{nav}</nav></header>
<main>{excerpts}{sections}</main>
<footer><p>{footer}</p></footer>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
:root { --ink: #1a1a1a; --muted: #555; --line: #d0d0d0; --card: #fafafa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1500px; padding: 0 1rem 2rem; color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5rem; margin: 1rem 0 .3rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 0 0 .3rem; display: flex; gap: .5rem; align-items: baseline;
  flex-wrap: wrap; }
h4 { font-size: .95rem; margin: .8rem 0 .3rem; }
nav { display: flex; flex-wrap: wrap; gap: .3rem .9rem; font-size: .9rem; }
nav a { color: #0645ad; }
.cards { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
  padding: .6rem .7rem; }
.card.ref { border: 2px solid var(--ink); }
.badge { font-weight: normal; font-size: .85rem; border: 1px solid var(--muted);
  border-radius: 3px; padding: 0 .3rem; }
dl { display: flex; flex-wrap: wrap; gap: .1rem 1rem; margin: .4rem 0; font-size: .88rem; }
dl div { display: flex; gap: .3rem; }
dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
.unit { color: var(--muted); }
details { font-size: .85rem; margin-bottom: .4rem; }
audio { width: 100%; display: block; margin: .3rem 0; }
img { max-width: 100%; height: auto; display: block; }
img.wide { margin: .6rem 0; max-width: min(100%, 1100px); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: .2rem .45rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
code { font-size: .85em; background: #eee; padding: 0 .2rem; overflow-wrap: anywhere; }
.cmd, .note { color: var(--muted); font-size: .88rem; }
.note { margin: .4rem 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media (max-width: 800px) {
  .cards { grid-template-columns: minmax(0, 1fr); }
  body { padding: 0 .5rem 1rem; font-size: 14px; }
}
@media print {
  audio, .ab, nav { display: none; }
  .card, section > img { break-inside: avoid; }
}
"""

SCRIPT = """
(function () {
  var players = Array.prototype.slice.call(document.querySelectorAll('audio'));
  var last = null;
  players.forEach(function (p) {
    p.addEventListener('play', function () {
      var ab = document.getElementById('ab');
      if (last && last !== p && ab && ab.checked && last.closest('section') ===
          p.closest('section')) { p.currentTime = Math.min(last.currentTime, p.duration || 0); }
      players.forEach(function (q) { if (q !== p) { q.pause(); } });
      last = p;
    });
  });
})();
"""
