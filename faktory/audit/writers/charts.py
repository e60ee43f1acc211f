"""Inline SVG charts for the HTML report: drawn here, so the report needs no script and no network."""

from __future__ import annotations

from typing import Mapping, Sequence

from markupsafe import escape

from faktory.units import human_bytes

FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px"
TARGET_COLOURS = {
    "unikraft": "#3b82f6", "km": "#8b5cf6", "rumprun": "#f59e0b", "nanos": "#10b981", "microvm": "#ef4444",
    "oci": "#64748b",
}
FALLBACK_COLOURS = ("#0ea5e9", "#d946ef", "#84cc16", "#f97316")


def colour_for(target: str, index: int = 0) -> str:
    return TARGET_COLOURS.get(target, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def _text(x: float, y: float, text: str, anchor: str = "start", fill: str = "#1f2937", weight: str = "normal") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" font-weight="{weight}" '
        f'style="{FONT}">{escape(text)}</text>'
    )


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(label)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, colour in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" rx="2" fill="{colour}"/>')
        out.append(_text(x + 16, y, name))
        x += 24 + 7.5 * len(name)
    return out


def size_chart(rows: Sequence[tuple[str, int, int, int]], width: int = 900) -> str:
    """Per image: layer bytes, projected closure bytes and wasted bytes, on one scale."""
    series = (("image (layers)", "#94a3b8"), ("closure (converted)", "#2563eb"), ("wasted in layers", "#f97316"))
    label_w, bar_h, gap, top = 240, 10, 14, 34
    height = top + len(rows) * (3 * bar_h + gap) + 10
    scale_max = max([max(r[1], r[2], r[3]) for r in rows] + [1])
    plot_w = width - label_w - 90
    body = _legend(series, label_w, 16)
    y = top
    for name, image_size, closure_size, wasted in rows:
        body.append(_text(label_w - 8, y + 1.5 * bar_h + 4, _short(name, 34), anchor="end"))
        for i, (value, (_, colour)) in enumerate(zip((image_size, closure_size, wasted), series)):
            w = max(1.0, plot_w * value / scale_max) if value else 0
            yy = y + i * bar_h
            body.append(f'<rect class="bar" x="{label_w}" y="{yy}" width="{w:.1f}" height="{bar_h - 1}" fill="{colour}"/>')
            body.append(_text(label_w + w + 4, yy + bar_h - 1, human_bytes(value), fill="#475569"))
        y += 3 * bar_h + gap
    return _svg(width, height, body, "Image size before and after conversion")


def blockers_chart(by_kind: Mapping[str, Mapping[str, int]], targets: Sequence[str], width: int = 900) -> str:
    """Per blocker kind, how many (image, target) pairs it blocks, stacked by target."""
    label_w, bar_h, gap, top = 240, 18, 8, 34
    kinds = list(by_kind)
    height = top + max(1, len(kinds)) * (bar_h + gap) + 10
    body = _legend([(t, colour_for(t, i)) for i, t in enumerate(targets)], label_w, 16)
    if not kinds:
        body.append(_text(label_w, top + 14, "No blockers: every audited image converts to every target."))
        return _svg(width, height, body, "Blockers by kind")
    scale_max = max(sum(v.values()) for v in by_kind.values())
    plot_w = width - label_w - 60
    y = top
    for kind in kinds:
        body.append(_text(label_w - 8, y + bar_h - 5, _short(kind, 34), anchor="end"))
        x = float(label_w)
        for i, target in enumerate(targets):
            count = by_kind[kind].get(target, 0)
            if not count:
                continue
            w = plot_w * count / scale_max
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour_for(target, i)}">'
                f"<title>{escape(kind)} blocks {escape(target)} on {count} image(s)</title></rect>"
            )
            x += w
        body.append(_text(x + 4, y + bar_h - 5, str(sum(by_kind[kind].values())), fill="#475569"))
        y += bar_h + gap
    return _svg(width, height, body, "Blockers by kind across the fleet")


def targets_chart(per_target: Mapping[str, Mapping[str, int]], width: int = 900) -> str:
    """Per target: images convertible / blocked / not checked, as one stacked bar each."""
    series = (("convertible", "#16a34a"), ("blocked", "#dc2626"), ("not checked", "#cbd5e1"))
    label_w, bar_h, gap, top = 240, 18, 8, 34
    height = top + max(1, len(per_target)) * (bar_h + gap) + 10
    body = _legend(series, label_w, 16)
    total = max([sum(v.values()) for v in per_target.values()] + [1])
    plot_w = width - label_w - 60
    y = top
    for target, counts in per_target.items():
        body.append(_text(label_w - 8, y + bar_h - 5, target, anchor="end", weight="600"))
        x = float(label_w)
        for key, colour in series:
            value = counts.get(key.replace("not checked", "unknown"), 0)
            if value:
                w = plot_w * value / total
                body.append(
                    f'<rect class="bar" x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                    f"<title>{escape(target)}: {value} {key}</title></rect>"
                )
                if w > 18:
                    body.append(_text(x + w / 2, y + bar_h - 5, str(value), anchor="middle", fill="#fff", weight="600"))
                x += w
        y += bar_h + gap
    return _svg(width, height, body, "Convertible images per target")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
