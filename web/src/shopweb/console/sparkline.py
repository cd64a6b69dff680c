"""Sparklines drawn on the server: a series as an inline SVG polyline, no chart library.
A gap in the series (no value: the instance was restarting, say) breaks the line."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 120
HEIGHT = 28
MARGIN = 2  # so the stroke at the top and bottom is not clipped


def points(values: Sequence[float | None], width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    """Each unbroken run of values as SVG polyline points, scaled to the series' largest
    value (the floor is zero: a rate of 5/s never looks like one of 500/s)."""
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    step = (width - 2 * MARGIN) / max(len(values) - 1, 1)
    runs: list[str] = []
    run: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if run:
                runs.append(" ".join(run))
            run = []
            continue
        x = MARGIN + i * step
        y = height - MARGIN - (value / top) * (height - 2 * MARGIN)
        run.append(f"{x:.1f},{y:.1f}")
    if run:
        runs.append(" ".join(run))
    return runs


def sparkline(
    values: Sequence[float | None], label: str, width: int = WIDTH, height: int = HEIGHT
) -> Markup:
    """An SVG image; `label` says in words what it shows, for those who cannot see it."""
    lines = "".join(f'<polyline points="{run}"/>' for run in points(values, width, height))
    return Markup(
        f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="none">'
        f"<title>{escape(label)}</title>{lines}</svg>"
    )
