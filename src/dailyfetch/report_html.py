"""Render :class:`~dailyfetch.report.ReportData` as one self-contained HTML page.

Inline CSS and SVG only: no scripts, no fonts, no images, no network requests.
Every value from the ledger or the config passes :func:`_e` (``html.escape``), since
an error message can hold ``<script>``. Colours are CSS variables with a dark
variant under ``prefers-color-scheme: dark``.
"""

from __future__ import annotations

import calendar
import html
import math
from collections.abc import Callable
from datetime import date

from dailyfetch.history import RunRecord, median
from dailyfetch.redact import redact
from dailyfetch.report import STATES, ReportData, trailing_medians

__all__ = ["render_report"]


def _css() -> str:
    """The page's stylesheet, shipped as ``dailyfetch/templates/report.css``."""
    from importlib.resources import files

    return files("dailyfetch").joinpath("templates/report.css").read_text(encoding="utf-8")


CELL, GAP = 30, 4


def _e(value: object) -> str:
    """Escape ``value`` for HTML text and attributes, after redacting secrets."""
    return html.escape(redact(str(value)), quote=True)


def format_duration(seconds: float | None) -> str:
    """``12.3 s``, ``4 min 05 s`` or ``1 h 02 min``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def format_count(value: float) -> str:
    """A compact count for an axis: ``950``, ``1.2k``, ``3.4M``."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else f"{int(value)}"


def _nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum at or above ``value`` and a round tick step (four or five ticks)."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step), step


def _tooltip(run: RunRecord | None, day: date, state: str) -> str:
    if run is None:
        return f"{day.isoformat()} ({day:%a}): {STATES[state]}"
    parts = [f"{day.isoformat()} ({day:%a}): {run.status}", f"{run.rows:,} rows"]
    if run.duration is not None:
        parts.append(format_duration(run.duration))
    if run.attempts > 1:
        parts.append(f"{run.attempts} attempts")
    if run.error:
        parts.append(f"{(run.error_class or 'error').lstrip('_')}: {_short(run.error, 160)}")
    return " · ".join(parts)


def _short(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# Calendar ----------------------------------------------------------------


def _month_svg(year: int, month: int, cells: dict[date, tuple[str, str]]) -> str:
    """One month as a 7-column grid, Monday first; days outside the window are faint."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    width = 7 * (CELL + GAP) - GAP
    height = 18 + len(weeks) * (CELL + GAP) - GAP
    out = [f'<svg class="month" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'aria-label="{calendar.month_name[month]} {year}">']  # fmt: skip
    for col, name in enumerate("MTWTFSS"):
        out.append(f'<text class="wd" x="{col * (CELL + GAP) + CELL / 2}" y="11">{name}</text>')
    for row, week in enumerate(weeks):
        for col, day in enumerate(week):
            if day.month != month:
                continue
            x, y = col * (CELL + GAP), 18 + row * (CELL + GAP)
            num = f'<text class="num" x="{x + CELL / 2}" y="{y + CELL / 2 + 4}">{day.day}</text>'
            if day not in cells:
                out.append(
                    f'<g class="pad"><rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="6"/>{num}</g>'
                )
                continue
            state, tip = cells[day]
            out.append(
                f'<g class="day s-{state}" data-date="{day.isoformat()}"><title>{_e(tip)}</title>'
                f'<rect class="cell" x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="6"/>{num}</g>'
            )
    out.append("</svg>")
    return "".join(out)


def _calendar(data: ReportData) -> str:
    cells = {c.day: (c.state, _tooltip(c.run, c.day, c.state)) for c in data.days}
    months: list[tuple[int, int]] = []
    for cell in data.days:
        if (cell.day.year, cell.day.month) not in months:
            months.append((cell.day.year, cell.day.month))
    blocks = [
        f'<figure class="month-block"><figcaption>{calendar.month_name[m]} {y}</figcaption>'
        f"{_month_svg(y, m, cells)}</figure>"
        for y, m in months
    ]
    legend = "".join(
        f'<span class="key"><svg width="14" height="14" aria-hidden="true"><g class="s-{state}">'
        f'<rect class="cell" width="14" height="14" rx="3"/></g></svg>{_e(label)} '
        f'<b class="n">{data.count(state)}</b></span>'
        for state, label in STATES.items()
        if state in ("succeeded", "failed", "interrupted", "missing") or data.count(state)
    )
    return f'<div class="legend">{legend}</div><div class="months">{"".join(blocks)}</div>'


# Charts ------------------------------------------------------------------

W, H = 1000, 230
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 14, 28


def _chart(
    data: ReportData,
    value_of: Callable[[RunRecord], float | None],
    fmt: Callable[[float, float], str],
    tip_fmt: Callable[[float], str],
    kind: str,
    threshold: float | None = None,
) -> str:
    """Bars per logical date (coloured by status), the trailing median and an optional threshold."""
    runs = {r.logical_date: r for r in data.runs}
    days = [c.day for c in data.days]
    values = [value_of(runs[d]) if d in runs else None for d in days]
    good = [
        v if d in runs and runs[d].status == "succeeded" else None for d, v in zip(days, values, strict=True)
    ]
    medians = trailing_medians(good, data.median_window)
    top = max([v for v in values if v is not None] + [m for m in medians if m is not None] + [0.0])
    unit = _duration_unit(top) if kind == "duration" else 1.0
    y_max, step = (v * unit for v in _nice_ceiling(top / unit))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)

    def y_of(value: float) -> float:
        return TOP + plot_h - value / y_max * plot_h

    out = [f'<svg class="chart chart-{kind}" viewBox="0 0 {W} {H}" role="img" preserveAspectRatio="none">']
    tick = 0.0
    while tick <= y_max + step / 2:
        y = y_of(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="ytick" x="{LEFT - 8}" y="{y + 4:.1f}">{_e(fmt(tick, unit))}</text>')
        tick += step
    label_every = max(1, math.ceil(len(days) / 10))
    for i, day in enumerate(days):
        x = LEFT + i * slot
        if (len(days) - 1 - i) % label_every == 0:
            out.append(f'<text class="xtick" x="{x + slot / 2:.1f}" y="{H - 8}">{day:%b} {day.day}</text>')
        value, run = values[i], runs.get(day)
        if data.days[i].state == "missing":
            out.append(
                f'<line class="gap-missing" x1="{x + slot / 2:.1f}" x2="{x + slot / 2:.1f}" y1="{TOP}" '
                f'y2="{TOP + plot_h}"><title>{day.isoformat()}: missing, no run</title></line>'
            )
        if run is None or value is None:
            continue
        bar_h = max(value / y_max * plot_h, 1.5 if value > 0 else 0.0)
        tip = f"{day.isoformat()}: {run.status}, {tip_fmt(value)}"
        low = ""
        if medians[i] is not None:
            tip += f" (trailing median {tip_fmt(medians[i] or 0.0)})"
            if (
                threshold is not None
                and run.status == "succeeded"
                and value < threshold * (medians[i] or 0.0)
            ):
                low, tip = " low", tip + ", below the low-volume threshold"
        out.append(
            f'<rect class="bar s-{_e(run.status)}{low}" x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - bar_h:.1f}" '
            f'width="{max(slot * 0.7, 1):.1f}" height="{bar_h:.1f}" rx="1.5"><title>{_e(tip)}</title></rect>'
        )
    out.append(_line(medians, slot, y_of, "median"))
    if threshold is not None:
        scaled = [m * threshold if m is not None else None for m in medians]
        out.append(_line(scaled, slot, y_of, "threshold"))
    out.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    out.append("</svg>")
    return "".join(out)


def _line(points: list[float | None], slot: float, y_of: Callable[[float], float], kind: str) -> str:
    """A polyline through the non-None points, broken where a point is missing."""
    path: list[str] = []
    pen_down = False
    for i, value in enumerate(points):
        if value is None:
            pen_down = False
            continue
        x = LEFT + i * slot + slot / 2
        path.append(f"{'L' if pen_down else 'M'}{x:.1f},{y_of(value):.1f}")
        pen_down = True
    return f'<path class="line {kind}" d="{" ".join(path)}"/>' if path else ""


def _chart_legend(data: ReportData, threshold: bool) -> str:
    items = [
        '<span class="key"><i class="sw s-succeeded"></i>succeeded</span>',
        '<span class="key"><i class="sw s-failed"></i>failed</span>',
        '<span class="key"><i class="sw s-interrupted"></i>interrupted</span>',
        f'<span class="key"><i class="ln median"></i>median of the previous {data.median_window} successes</span>',
    ]
    if data.count("missing"):
        items.append('<span class="key"><i class="ln missing"></i>missing day</span>')
    if threshold and data.low_volume_fraction is not None:
        items.append(
            f'<span class="key"><i class="ln threshold"></i>low-volume alert below '
            f"{data.low_volume_fraction:.0%} of it (outlined bars)</span>"
        )
    return f'<div class="legend small">{"".join(items)}</div>'


# Page --------------------------------------------------------------------


def _cards(data: ReportData) -> str:
    ran = [c for c in data.days if c.run is not None and c.state != "running"]
    due = len(ran) + data.count("missing")
    ok = data.count("succeeded")
    rate = f"{ok / due:.0%}" if due else "-"
    good = [r for r in data.runs if r.status == "succeeded"]
    mid_rows = median([r.rows for r in good])
    mid_time = median([r.duration for r in good if r.duration is not None])
    last = max(data.runs, key=lambda r: r.finished_at or r.started_at, default=None)
    last_text = f'<span class="pill s-{_e(last.status)}">{_e(last.status)}</span>' if last else "no runs yet"
    last_sub = (
        f"for {last.logical_date.isoformat()}, at {_when(last, data)}"
        if last
        else "start one with dailyfetch run"
    )
    problems = data.count("failed") + data.count("interrupted") + data.count("missing")
    cards = [
        ("Success", rate, f"{ok} of {due} due days succeeded"),
        ("Last run", last_text, _e(last_sub)),
        ("Median rows", f"{mid_rows:,.0f}" if mid_rows is not None else "-", "per successful run"),
        ("Median duration", format_duration(mid_time), "per successful run"),
        (
            "Needs attention",
            str(problems),
            f"{data.count('failed')} failed · {data.count('interrupted')} interrupted · "
            f"{data.count('missing')} missing",
        ),
    ]
    return "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value">{value}</div>'
        f'<div class="sub">{sub}</div></div>'
        for label, value, sub in cards
    )


def _when(run: RunRecord, data: ReportData) -> str:
    moment = run.finished_at or run.started_at
    return moment.astimezone(data.generated_at.tzinfo).strftime("%Y-%m-%d %H:%M")


def _failures(data: ReportData) -> str:
    if not data.failures:
        return f'<p class="empty">No failed or interrupted runs from {data.first_day} to {data.last_day}.</p>'
    rows = "".join(
        f'<tr class="failure"><td class="nowrap">{_e(r.logical_date.isoformat())}</td>'
        f'<td><span class="pill s-{_e(r.status)}">{_e(r.status)}</span></td>'
        f'<td class="err"><b>{_e((r.error_class or "").lstrip("_"))}</b> {_e(r.error or "(no message)")}</td>'
        f'<td class="num">{r.rows:,}</td><td class="num">{r.attempts}</td>'
        f'<td class="nowrap">{_e(_when(r, data))}</td></tr>'
        for r in data.failures
    )
    head = (
        "<tr><th>Date</th><th>Status</th><th>Error</th><th>Rows</th><th>Attempts</th><th>Finished</th></tr>"
    )
    return f'<table class="failures"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _schedule(data: ReportData) -> str:
    fires = "".join(
        f"<li><time>{_e(f'{fire:%a %Y-%m-%d %H:%M %Z}')}</time> → fetches {_e(day.isoformat())}</li>"
        for fire, day in data.next_fires
    )
    nxt = (
        f'<ol class="fires">{fires}</ol>' if fires else '<p class="empty">The schedule never fires again.</p>'
    )
    return (
        f'<p class="sched"><code>{_e(data.expression)}</code> — {_e(data.schedule_text)}, '
        f'time zone {_e(data.timezone)}</p><p class="sub">{_e(data.logical_rule)}.</p>'
        f"<h3>Next five runs</h3>{nxt}"
    )


def render_report(data: ReportData) -> str:
    """The whole page."""
    threshold = data.low_volume_fraction
    rows_chart = _chart(
        data,
        lambda r: float(r.rows),
        lambda v, _: format_count(v),
        lambda v: f"{v:,.0f} rows",
        "rows",
        threshold,
    )
    time_chart = _chart(data, lambda r: r.duration, _axis_duration, format_duration, "duration")
    title = f"{data.job} · dailyfetch run history"
    period = f"{len(data.days)} days, {data.first_day:%d %b %Y} to {data.last_day:%d %b %Y}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{_e(title)}</title>
<style>{_css()}</style>
</head>
<body>
<main>
<header>
<div class="eyebrow">dailyfetch · run history</div>
<h1>{_e(data.job)}</h1>
<p class="sub">{_e(period)} · generated {_e(f"{data.generated_at:%Y-%m-%d %H:%M %Z}")}</p>
</header>
<section class="cards">{_cards(data)}</section>
<section class="panel" id="calendar"><h2>Every logical date</h2>{_calendar(data)}</section>
<section class="panel" id="rows"><h2>Rows per run</h2>{_chart_legend(data, True)}{rows_chart}</section>
<section class="panel" id="duration"><h2>Duration per run</h2>{_chart_legend(data, False)}{time_chart}</section>
<section class="panel" id="failures"><h2>Recent failures</h2>{_failures(data)}</section>
<section class="panel" id="schedule"><h2>Schedule</h2>{_schedule(data)}</section>
<footer>Made by <code>dailyfetch report</code> from the run ledger. Hover a day or a bar for details;
<code>dailyfetch runs</code> lists every run.</footer>
</main>
</body>
</html>
"""


def _duration_unit(seconds: float) -> float:
    """The unit a duration axis counts in, so its ticks are round: seconds, minutes or hours."""
    return 3600.0 if seconds >= 7200 else 60.0 if seconds >= 120 else 1.0


def _axis_duration(seconds: float, unit: float) -> str:
    """A duration tick in the axis's unit: ``30 s``, ``2.5 min``, ``3 h``."""
    suffix = {3600.0: "h", 60.0: "min"}.get(unit, "s")
    return f"{format_count(seconds / unit)} {suffix}"
