"""Small inline SVG charts for the run report: lines, reliability bars, a heat map."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
W, H, PAD = 360, 260, 40


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _axes(x_label: str, y_label: str, x_max: float = 1.0) -> list[str]:
    x0, y0, x1, y1 = PAD, H - PAD, W - 10, 10
    out = [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>',
        f'<text x="{(x0 + x1) / 2}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(y0 + y1) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(y0 + y1) / 2})">{escape(y_label)}</text>',
    ]
    for t in (0.0, 0.5, 1.0):
        x, y = _px(t, 0.0)[0], _px(0.0, t)[1]
        out.append(f'<text x="{x}" y="{y0 + 14}" text-anchor="middle">{t * x_max:.3g}</text>')
        out.append(f'<text x="{x0 - 4}" y="{y + 4}" text-anchor="end">{t:g}</text>')
    return out


def _px(x: float, y: float, x_max: float = 1.0) -> tuple[float, float]:
    return (PAD + (W - 10 - PAD) * x / x_max, (H - PAD) - (H - PAD - 10) * y)


def _svg(parts: list[str], title: str) -> str:
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" '
        f'height="{H}" role="img" aria-label="{escape(title)}" font-size="10" '
        f'font-family="sans-serif"><title>{escape(title)}</title>{body}</svg>'
    )


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float | None]]],
    title: str,
    x_label: str,
    y_label: str,
    *,
    x_max: float = 1.0,
    diagonal: bool = False,
) -> str:
    """Lines through (x, y) points on [0, x_max] x [0, 1]; None breaks a line."""
    parts = _axes(x_label, y_label, x_max)
    if diagonal:
        (ax, ay), (bx, by) = _px(0, 0), _px(1, 1)
        parts.append(
            f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="#aaa" stroke-dasharray="4 3"/>'
        )
    for k, (name, xs, ys) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        pts = [_px(x, y, x_max) for x, y in zip(xs, ys, strict=True) if y is not None]
        if pts:
            d = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in pts)
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{d}"/>'
            )
        parts.append(
            f'<text x="{W - 14}" y="{22 + 12 * k}" text-anchor="end" fill="{color}">'
            f"{escape(name)}</text>"
        )
    return _svg(parts, title)


def reliability_chart(
    edges: Sequence[float], accuracy: Sequence[float | None], count: Sequence[int], title: str
) -> str:
    """Bars of observed accuracy per confidence bin against the diagonal."""
    parts = _axes("confidence", "accuracy")
    (ax, ay), (bx, by) = _px(0, 0), _px(1, 1)
    parts.append(
        f'<line x1="{ax}" y1="{ay}" x2="{bx}" y2="{by}" stroke="#aaa" stroke-dasharray="4 3"/>'
    )
    for lo, hi, acc, n in zip(edges[:-1], edges[1:], accuracy, count, strict=True):
        if acc is None or n == 0:
            continue
        x0, y0 = _px(lo, acc)
        x1, base = _px(hi, 0)
        parts.append(
            f'<rect x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(max(x1 - x0 - 1, 1))}" '
            f'height="{_fmt(base - y0)}" fill="#1f77b4" opacity="0.75"><title>'
            f"{lo:.2f}-{hi:.2f}: accuracy {acc:.3f}, n={n}</title></rect>"
        )
    return _svg(parts, title)


def _color(v: float | None) -> str:
    if v is None:
        return "#eee"
    t = min(max(v, 0.0), 1.0)  # red (0) -> yellow -> green (1)
    r = int(215 if t < 0.5 else 215 - (t - 0.5) * 2 * 170)
    g = int(60 + t * 2 * 140 if t < 0.5 else 200)
    return f"rgb({r},{g},70)"


def heat_map(
    rows: Sequence[str],
    cols: Sequence[int],
    values: dict[tuple[str, int], float | None],
    title: str,
) -> str:
    """Corruption x severity cells coloured by value in [0, 1], value printed in each cell."""
    cw, ch, left, top = 44, 18, 120, 24
    width, height = left + cw * len(cols) + 10, top + ch * len(rows) + 10
    parts = [f'<text x="{left + cw * len(cols) / 2}" y="12" text-anchor="middle">severity</text>']
    for j, c in enumerate(cols):
        parts.append(
            f'<text x="{left + cw * j + cw / 2}" y="{top - 4}" text-anchor="middle">{c}</text>'
        )
    for i, r in enumerate(rows):
        y = top + ch * i
        parts.append(f'<text x="{left - 4}" y="{y + 13}" text-anchor="end">{escape(r)}</text>')
        for j, c in enumerate(cols):
            v = values.get((r, c))
            label = "-" if v is None else f"{v:.2f}"
            parts.append(
                f'<rect x="{left + cw * j}" y="{y}" width="{cw - 1}" height="{ch - 1}" '
                f'fill="{_color(v)}"><title>{escape(r)} s{c}: {label}</title></rect>'
                f'<text x="{left + cw * j + cw / 2}" y="{y + 13}" '
                f'text-anchor="middle">{label}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(title)}" font-size="10" '
        f'font-family="sans-serif"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
