"""The curators' report as one self-contained HTML page, with charts drawn by matplotlib: questions
per day, and the share answered per week; the proposals each with the command that accepts it."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .curation.proposals import Kind
from .report import TEXT_ROW_LIMIT, Report, tables

INSTALL_HINT = (
    "--html needs matplotlib, an optional extra: pip install 'shebao-bot[report]' "
    "(from a checkout: pip install -e '.[report]')"
)
CHART_SIZE_IN = (10.0, 3.6)
CHART_DPI = 110
SERIES = (  # (Day attribute, legend label, colour): stacked in this order
    ("answered", "answered", "#2e7d32"),
    ("after_suggestion", "answered after \"did you mean\"", "#f9a825"),
    ("unanswered", "unanswered", "#c62828"),
)
# Fonts that draw Chinese, tried in order for the chart; without one the labels stay English.
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
             "PingFang SC", "Microsoft YaHei", "SimHei")
# The page's own text is drawn by the browser, which has a Chinese font on any curator's machine.
CSS = """
body { font-family: -apple-system, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
       "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif;
       margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; } .muted { color: #777; }
code.cmd { user-select: all; -webkit-user-select: all; background: #f4f4f4; padding: .1rem .35rem;
           border-radius: 3px; white-space: nowrap; cursor: text; }
"""
WEEKLY_SERIES = (  # (Week attribute, legend label, colour)
    ("share", "answered directly", "#2e7d32"),
    ("share_with_choices", "answered, with \"did you mean\" choices", "#f9a825"),
)
KIND_LABELS = {Kind.ALTERNATE: "alternate 新问法", Kind.NEW_ENTRY: "new entry 新条目",
               Kind.REVIEW: "review 复查"}


class MatplotlibMissing(RuntimeError):
    """matplotlib (the `report` extra) is not installed."""


def _matplotlib() -> Any:
    """Import matplotlib only when a chart is drawn, so the bot itself does not need it."""
    try:
        import matplotlib
        from matplotlib.figure import Figure  # noqa: F401 - checks the plotting part imports
    except ImportError as exc:
        raise MatplotlibMissing(INSTALL_HINT) from exc
    return matplotlib


def _cjk_font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in available), None)


def _rc() -> tuple[dict[str, Any], bool]:
    font = _cjk_font()
    return ({"font.family": [font, "DejaVu Sans"]} if font else {}), font is not None


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _chart(title: str, title_zh: str, series: int, draw: Callable[[Any, Any], None]) -> str:
    """One chart as base64 PNG (matplotlib's object API: no global pyplot state): `draw(ax,
    mdates)` plots; the title, date axis, legend and frame are the same for every chart."""
    matplotlib = _matplotlib()
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    rc, chinese = _rc()
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=CHART_SIZE_IN, dpi=CHART_DPI, layout="constrained")
        ax = fig.add_subplot()
        draw(ax, mdates)
        ax.set_title(title + (f" {title_zh}" if chinese else ""))
        fig.legend(loc="outside lower center", ncols=series, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)


def chart_png(report: Report) -> str:
    """The stacked daily chart of questions by outcome."""

    def draw(ax: Any, mdates: Any) -> None:
        from matplotlib.ticker import MaxNLocator

        days = mdates.date2num([d.day for d in report.days])
        bottom = [0] * len(days)
        for attr, label, colour in SERIES:
            values = [getattr(d, attr) for d in report.days]
            ax.bar(days, values, bottom=bottom, label=label, color=colour, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))

    return _chart("Questions per day (UTC)", "每日提问", len(SERIES), draw)


def weekly_png(report: Report) -> str:
    """The share of questions answered per week, as a line chart; a week without questions is a
    gap in the line."""

    def draw(ax: Any, mdates: Any) -> None:
        from matplotlib.ticker import PercentFormatter

        weeks = mdates.date2num([w.start for w in report.weeks])
        for attr, label, colour in WEEKLY_SERIES:
            values = [getattr(w, attr) for w in report.weeks]
            shares = [float("nan") if v is None else 100 * v for v in values]
            ax.plot(weeks, shares, marker="o", label=label, color=colour)
        ax.set_ylim(0, 100)
        ax.yaxis.set_major_formatter(PercentFormatter())
        locator = mdates.AutoDateLocator(minticks=1, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))

    return _chart("Share of questions answered per week (UTC)", "每周解答率", len(WEEKLY_SERIES), draw)


def _proposals(report: Report, limit: int) -> str:
    """The proposals, each with the command to run: one click selects it for copying."""
    if not report.proposals:
        return '<p class="muted">(none)</p>'
    rows = []
    for p in report.proposals[:limit]:
        examples = " | ".join(p.examples)
        rows.append(
            f"<tr><td>{html.escape(KIND_LABELS[p.kind])}</td><td>{html.escape(p.entry or '')}</td>"
            f'<td class="n">{p.count}</td><td>{html.escape(p.question)}'
            + (f'<br><span class="muted">{html.escape(examples)}</span>' if examples else "")
            + f'</td><td><code class="cmd">{html.escape(p.command(report.data_dir, report.knowledge))}'
            "</code></td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("kind", "entry", "count", "question", "command"))
    more = (f'<p class="muted">… {len(report.proposals) - limit} more '
            "(python -m bot kb suggest lists them all)</p>") if len(report.proposals) > limit else ""
    hint = ('<p class="muted">An alternate is written only if the knowledge base still passes '
            "<code>kb check</code>, the question is not closer to another entry, and accuracy on "
            "the labelled questions does not drop. New entries and reviews are done by hand; "
            "<code>kb reject ID</code> hides a proposal (a review returns only with new 👎).</p>")
    return f"{hint}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _table(header: list[str], rows: list[list[object]], limit: int) -> str:
    if not rows:
        return '<p class="muted">(none)</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows[:limit]:
        cells = "".join(
            f'<td class="n">{c}</td>' if isinstance(c, int) else f"<td>{html.escape(str(c))}</td>"
            for c in row
        )
        body.append(f"<tr>{cells}</tr>")
    more = f'<p class="muted">… {len(rows) - limit} more (--csv lists them all)</p>' if len(rows) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def render_html(report: Report, limit: int = TEXT_ROW_LIMIT) -> str:
    """One page with inline CSS and the chart inline: nothing to fetch, opens offline."""
    png, weekly = chart_png(report), weekly_png(report)
    title = f"shebao-bot report {report.period}"
    sections = []
    for key, heading, header, rows in tables(report):
        body = _proposals(report, limit) if key == "proposals" else _table(header, rows, limit)
        sections.append(f"<h2>{html.escape(heading)}</h2>{body}")
        if key == "weekly":
            sections.append(f'<img alt="share of questions answered per week" '
                            f'src="data:image/png;base64,{weekly}">')
    if report.note:
        sections.insert(0, f'<p class="muted">{html.escape(report.note)}</p>')
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>社保小助手 · curators' report</h1><p>{html.escape(str(report.period))}</p>",
        f'<img alt="questions per day: answered, answered after did-you-mean, unanswered" '
        f'src="data:image/png;base64,{png}">',
        *sections,
        "</body></html>",
    ])


def write_html(report: Report, path: Path | str) -> None:
    """Write the page to `path` (UTF-8)."""
    Path(path).write_text(render_html(report), encoding="utf-8")
