"""Bar charts for the usage page, laid out on the server and drawn as inline SVG by the template.

Only geometry is computed here (rectangles, ticks, labels as plain strings); the template writes the
`<svg>` with autoescaping, so a model or agent name cannot inject markup, and the page needs no script
and no chart library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
LEFT = 70
BOTTOM = 48
TOP = 12
RIGHT = 8
#: The widest bar, so that one or two bars do not fill the chart.
MAX_BAR = 64


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    """A bar chart ready to draw: `WIDTH` x `HEIGHT` SVG units."""

    title: str
    bars: list[Bar]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def bar_chart(
    title: str, items: Sequence[tuple[str, float]], fmt: Callable[[float], str] = lambda v: f"{v:,.0f}"
) -> BarChart:
    """One bar per `(label, value)`, scaled to a rounded maximum, with five gridline ticks."""
    top = _nice_ceiling(max((v for _, v in items), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - BOTTOM - TOP
    slot = plot_width / max(len(items), 1)
    bars = []
    width = min(slot * 0.8, MAX_BAR)
    for index, (label, value) in enumerate(items):
        height = plot_height * value / top
        bars.append(
            Bar(
                x=LEFT + index * slot + (slot - width) / 2,
                y=HEIGHT - BOTTOM - height,
                width=width,
                height=height,
                label=label,
                value=fmt(value),
            )
        )
    ticks = [Tick(y=HEIGHT - BOTTOM - plot_height * i / 4, label=fmt(top * i / 4)) for i in range(5)]
    return BarChart(title=title, bars=bars, ticks=ticks)
