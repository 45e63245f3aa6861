"""The documents' figures as inline SVG: drawn here, so the HTML opens offline, the PDF renders
them as vectors, and the same data give the same bytes (no script, no time stamp, no random id)."""
from __future__ import annotations

from html import escape

# Noto Sans CJK where installed; else DejaVu Sans before WenQuanYi Micro Hei, whose Ⅴ (U+2164, the
# class numeral) prints blank: Latin, digits and the numerals from DejaVu, Chinese from WenQuanYi.
FONT = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'DejaVu Sans', 'WenQuanYi Micro Hei', 'Microsoft YaHei', "
        "sans-serif")
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 40, 96
SERIES_COLOURS = ("#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c")


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(title: str, categories: list[str], series: list[tuple[str, list, str | None]], y_max: float,
              y_format=lambda v: f"{v:.0%}", bar_colours: list[str] | None = None,
              reference: list[float | None] | None = None, reference_label: str = "") -> str:
    """Grouped bars: one group per category, one bar per series (label, values, colour); None
    values leave a gap. `reference`: a marker per category (e.g. the agreed rate)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = y_max or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{escape(FONT)}" font-size="11">',
             f'<text x="{WIDTH / 2:g}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>']
    for step in range(5):
        value = y_max * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#dddddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format(value))}</text>')
    groups = max(len(categories), 1)
    slanted = any(len(c) > 4 for c in categories) and len(categories) > 6
    group_w = plot_w / groups
    bar_w = group_w * 0.8 / max(len(series), 1)
    for g, category in enumerate(categories):
        x0 = LEFT + g * group_w + group_w * 0.1
        for s, (_label, values, colour) in enumerate(series):
            value = values[g]
            if value is None:
                continue
            height = plot_h * min(max(value, 0.0), y_max) / y_max
            fill = (bar_colours[g] if bar_colours and s == 0 else colour) or SERIES_COLOURS[s % len(SERIES_COLOURS)]
            x = x0 + s * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar_w * 0.92:.1f}" '
                         f'height="{height:.1f}" fill="{fill}"/>')
            parts.append(f'<text x="{x + bar_w * 0.46:.1f}" y="{TOP + plot_h - height - 3:.1f}" text-anchor="middle" '
                         f'font-size="9">{escape(y_format(value))}</text>')
        if reference and reference[g] is not None:
            y = TOP + plot_h - plot_h * min(reference[g], y_max) / y_max
            parts.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x0 + group_w * 0.8:.1f}" y2="{y:.1f}" '
                         f'stroke="#d62728" stroke-width="2" stroke-dasharray="4 2"/>')
        if slanted:  # long names: turned, so that neighbours do not overlap
            x, y = x0 + group_w * 0.4, TOP + plot_h + 10
            parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="end" font-size="9" '
                         f'transform="rotate(-30 {x:.1f} {y})">{escape(category)}</text>')
        else:
            parts.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">'
                         f'{escape(category)}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#333333"/>')
    legend = [(label, colour or SERIES_COLOURS[s % len(SERIES_COLOURS)]) for s, (label, _v, colour) in enumerate(series)
              if label]
    if reference and reference_label:
        legend.append((reference_label, "#d62728"))
    x = LEFT
    for label, colour in legend:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="12" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{HEIGHT - 13}">{escape(label)}</text>')
        x += 28 + 12 * len(label)
    parts.append("</svg>")
    return "".join(parts)


def counts(value: float) -> str:
    return _number(value)
