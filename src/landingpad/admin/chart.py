"""A bar chart of sign-ups per day as inline SVG: drawn on the server, no script at all."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 220, 40, 28, 12


def bar_chart(series: list[tuple[date, int]], title: str) -> Markup:
    """An accessible SVG (role=img, title, desc); the page also shows the numbers as a table."""
    peak = max((n for _, n in series), default=0)
    scale_max = max(peak, 1)
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(series), 1)
    bars = []
    for i, (day, count) in enumerate(series):
        h = plot_h * count / scale_max
        x = PAD_LEFT + i * step + step * 0.15
        y = PAD_TOP + plot_h - h
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{day.isoformat()}: {count}</title></rect>')
    total = sum(n for _, n in series)
    first, last = (series[0][0], series[-1][0]) if series else (None, None)
    desc = (f"{total} sign-ups from {first} to {last}; the busiest day had {peak}."
            if series else "No data.")
    labels = (
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + 4}" text-anchor="end">{peak}</text>'
        f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>'
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 8}">{first}</text>'
        f'<text x="{WIDTH - 8}" y="{HEIGHT - 8}" text-anchor="end">{last}</text>'
    ) if series else ""
    axis = (f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 8}" '
            f'y2="{PAD_TOP + plot_h}" class="axis"/>')
    svg = (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">'
           f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{desc}</desc>'
           f'{axis}{"".join(bars)}{labels}</svg>')
    return Markup(svg)  # noqa: S704 - built from numbers and dates; the title is escaped
