"""Bar charts drawn on the server as SVG geometry (no script, no library, nothing external):
the template ``statistics/chart.html`` turns a :class:`Chart` into ``<svg>`` with one
``<a>`` per bar, so every bar is a link to the items behind it. Colours and fonts come from
``web/static/charts.css`` (the console's CSP allows no inline style)."""

from __future__ import annotations

from dataclasses import dataclass, field

ROW = 26  # px per bar
LABEL = 170  # px for the labels on the left
VALUE = 56  # px for the value on the right
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    href: str
    x: float = 0
    y: float = 0
    width: float = 0


@dataclass(frozen=True)
class Chart:
    """``bars`` laid out horizontally in a ``width``×``height`` box, longest = full scale."""

    id: str
    title: str
    bars: list[Bar] = field(default_factory=list)
    width: int = 560
    height: int = 0
    unit: str = ""


def bar_chart(chart_id: str, title: str, values: list[tuple[str, float, str]],
              width: int = 560, limit: int = 12, unit: str = "") -> Chart:
    """(label, value, link) rows, largest first, at most ``limit`` of them (the weak spots
    first), as a chart; zero values are left out (nothing to follow)."""
    rows = sorted((v for v in values if v[1] > 0), key=lambda v: (-v[1], v[0]))[:limit]
    top = max((v for _, v, _ in rows), default=0) or 1
    span = width - LABEL - VALUE
    bars = [Bar(label=_short(label), value=value, href=href, x=LABEL,
                y=TOP + n * ROW, width=max(2.0, round(span * value / top, 1)))
            for n, (label, value, href) in enumerate(rows)]
    return Chart(id=chart_id, title=title, bars=bars, width=width,
                 height=TOP * 2 + ROW * len(bars), unit=unit)


def _short(label: str, most: int = 14) -> str:
    return label if len(label) <= most else label[:most - 1] + "…"
