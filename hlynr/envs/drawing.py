"""Drawing primitives shared by the env renderers: panels with a world-to-pixel view, grids,
scale bars, markers and text (see :mod:`hlynr.envs.rendering` for how envs use the renderers).

The drawing library is Pillow's ``ImageDraw`` (no anti-aliasing, exact colours): a 640x480 frame
of 20 aircraft takes about a millisecond, tens of times faster than matplotlib's Agg canvas for
the same scene (``benchmarks/bench_render.py`` prints both).

World coordinates are metres, x to the right and y up; a :class:`View` maps them to the pixels
of one :class:`Panel` with the same scale on both axes. A panel has its own image, so what falls
outside it is clipped, then it is pasted into the frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from hlynr.envs.rendering import DEFAULT_SIZE, Size

Color = tuple[int, int, int]
Point = Sequence[float] | np.ndarray
"""A world point or vector ``(x, y)`` (metres)."""

BACKGROUND: Color = (246, 246, 242)
PANEL: Color = (255, 255, 255)
FRAME_LINE: Color = (170, 170, 165)
GRID: Color = (228, 228, 222)
TEXT: Color = (25, 25, 25)
MUTED: Color = (110, 110, 110)


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (its bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


class GlyphText:
    """Text drawn glyph by glyph from cached glyph masks (no kerning).

    FreeType renders a short string in about half a millisecond; pasting cached glyphs takes a
    tenth of that, which matters at a dozen strings per frame and 30+ frames per second.
    """

    def __init__(self, size: int) -> None:
        self.font: Any = font(size)
        ascent, descent = self.font.getmetrics() if hasattr(self.font, "getmetrics") else (size, 0)
        self.ascent, self.descent = int(ascent), int(descent)
        self._glyphs: dict[str, tuple[Image.Image | None, tuple[int, int], float]] = {}

    def _glyph(self, ch: str) -> tuple[Image.Image | None, tuple[int, int], float]:
        g = self._glyphs.get(ch)
        if g is None:
            mask, offset = self.font.getmask2(ch, "L", anchor="ls")
            w, h = mask.size
            im = Image.frombytes("L", (w, h), bytes(mask)) if w and h else None
            g = self._glyphs[ch] = (im, (int(offset[0]), int(offset[1])), float(self.font.getlength(ch)))
        return g

    def width(self, text: str) -> float:
        """The advance width of ``text`` in pixels."""
        return sum(self._glyph(ch)[2] for ch in text)

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, fill: Color,
             anchor: str = "la") -> None:
        """Draw ``text`` at pixel ``xy``; ``anchor``: horizontal ``l``/``m``/``r`` then vertical
        ``a`` (top of the ascender), ``m`` (middle), ``b``/``s`` (baseline)."""
        x, y = float(xy[0]), float(xy[1])
        if anchor[0] in "mr":
            x -= self.width(text) * (0.5 if anchor[0] == "m" else 1.0)
        v = anchor[1] if len(anchor) > 1 else "a"
        if v == "a":
            y += self.ascent
        elif v == "m":
            y += 0.5 * (self.ascent - self.descent)
        for ch in text:
            im, (ox, oy), adv = self._glyph(ch)
            if im is not None:
                draw.bitmap((round(x + ox), round(y + oy)), im, fill=fill)
            x += adv


@lru_cache(maxsize=16)
def glyphs(size: int) -> GlyphText:
    """The cached :class:`GlyphText` of text size ``size``."""
    return GlyphText(size)


def text_size(height: int) -> int:
    """The text size used in a frame ``height`` pixels high (12 px at 480)."""
    return max(9, round(height / 40))


def nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 times a power of ten not above ``limit`` (> 0)."""
    if not limit > 0:
        raise ValueError(f"limit must be > 0, got {limit}")
    p = 10.0 ** math.floor(math.log10(limit))
    for k in (5.0, 2.0, 1.0):
        if k * p <= limit * (1 + 1e-12):
            return k * p
    return p  # pragma: no cover - k = 1 always fits


def format_length(metres: float, unit: str = "m", per_unit: float = 1.0) -> str:
    """``metres`` as a short label: ``"500 m"``, ``"2 km"``, ``"10 NM"`` (``unit`` of ``per_unit`` m)."""
    value = metres / per_unit
    if unit == "m" and value >= 1000.0:
        value, unit = value / 1000.0, "km"
    return f"{value:g} {unit}"


@dataclass(frozen=True)
class View:
    """World-to-pixel transform of a panel: ``u = (x - x0) * scale``, ``v = height - (y - y0) * scale``
    (pixels of the panel's own image; ``scale`` in pixels per metre, the same on both axes)."""

    x0: float
    y0: float
    scale: float
    width: int
    height: int

    @classmethod
    def fit(cls, lo: Sequence[float], hi: Sequence[float], width: int, height: int,
            margin: float = 0.06, min_span: float = 1.0) -> View:
        """The view showing the world box ``lo .. hi`` (x, y) centred in ``width x height`` pixels,
        with ``margin`` (a fraction of the panel) free on every side."""
        span_x = max(hi[0] - lo[0], min_span)
        span_y = max(hi[1] - lo[1], min_span)
        usable_w = max(width * (1 - 2 * margin), 1.0)
        usable_h = max(height * (1 - 2 * margin), 1.0)
        scale = min(usable_w / span_x, usable_h / span_y)
        cx, cy = 0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])
        return cls(cx - 0.5 * width / scale, cy - 0.5 * height / scale, scale, width, height)

    def px(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Pixel coordinates ``(u, v)`` of world points ``x, y`` (floats or arrays)."""
        return (np.asarray(x) - self.x0) * self.scale, self.height - (np.asarray(y) - self.y0) * self.scale

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        """The integer pixel ``(column, row)`` containing world point ``(x, y)``."""
        u, v = self.px(x, y)
        return int(math.floor(float(u))), int(math.floor(float(v)))

    def points(self, xy: np.ndarray) -> list[tuple[float, float]]:
        """Pixel coordinates of world points ``xy`` (n, 2) as a list of tuples (for ImageDraw)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        u, v = self.px(xy[:, 0], xy[:, 1])
        return list(zip(u.tolist(), v.tolist()))


PlacedView = tuple[View, tuple[int, int]]
"""A panel's view and the frame pixel of its top-left corner: world point ``(x, y)`` is at frame
pixel ``at + view.pixel(x, y)``."""


def place(lo: Sequence[float], hi: Sequence[float], rect: tuple[int, int, int, int],
          margin: float = 0.06) -> PlacedView:
    """The view of the panel ``rect = (left, top, width, height)`` of a frame that shows the
    world box ``lo .. hi``, and the panel's top-left pixel."""
    left, top, w, h = rect
    return View.fit(lo, hi, w, h, margin), (left, top)


def frame_pixel(placed: PlacedView, x: float, y: float) -> tuple[int, int]:
    """The frame pixel ``(column, row)`` where world point ``(x, y)`` of panel ``placed`` is drawn."""
    view, (left, top) = placed
    u, v = view.pixel(x, y)
    return left + u, top + v


class Panel:
    """An image of ``width x height`` pixels with a :class:`View`; draw on it, then paste it."""

    def __init__(self, view: View, background: Color = PANEL, text_px: int = 12) -> None:
        self.view = view
        self.image = Image.new("RGB", (view.width, view.height), background)
        self.draw = ImageDraw.Draw(self.image)
        self.text_px = text_px

    # --- world-space primitives ---------------------------------------------------------
    def polyline(self, xy: np.ndarray, color: Color, width: int = 1) -> None:
        """A path through world points ``xy`` (n, 2) (nothing for fewer than 2 points)."""
        pts = self.view.points(xy)
        if len(pts) >= 2:
            self.draw.line(pts, fill=color, width=width)

    def segment(self, a: Point, b: Point, color: Color, width: int = 1,
                dash: float = 0.0) -> None:
        """A straight line from world point ``a`` to ``b`` (dashed with ``dash`` px dashes)."""
        (u0, v0), (u1, v1) = self.view.points(np.array([a, b], dtype=float))
        if dash <= 0:
            self.draw.line([(u0, v0), (u1, v1)], fill=color, width=width)
            return
        length = math.hypot(u1 - u0, v1 - v0)
        n = int(length // (2 * dash))
        if n > 400:  # very long on screen: plain line (cheaper, looks the same at that scale)
            self.draw.line([(u0, v0), (u1, v1)], fill=color, width=width)
            return
        du, dv = (u1 - u0) / max(length, 1e-9), (v1 - v0) / max(length, 1e-9)
        for k in range(n + 1):
            s0, s1 = 2 * k * dash, min(2 * k * dash + dash, length)
            if s1 > s0:
                self.draw.line([(u0 + du * s0, v0 + dv * s0), (u0 + du * s1, v0 + dv * s1)],
                               fill=color, width=width)

    def circle(self, centre: Point, radius_m: float, outline: Color | None = None,
               fill: Color | None = None, width: int = 1) -> None:
        """A circle of ``radius_m`` metres around world point ``centre``."""
        u, v = self.view.px(centre[0], centre[1])
        r = radius_m * self.view.scale
        if r < 0.5 or r > 20000:
            return
        self.draw.ellipse([u - r, v - r, u + r, v + r], outline=outline, fill=fill, width=width)

    def dot(self, centre: Point, radius_px: float, fill: Color | None,
            outline: Color | None = None, width: int = 1) -> None:
        """A disc of ``radius_px`` pixels at world point ``centre``."""
        u, v = self.view.px(centre[0], centre[1])
        self.draw.ellipse([u - radius_px, v - radius_px, u + radius_px, v + radius_px],
                          fill=fill, outline=outline, width=width)

    def square(self, centre: Point, half_px: float, outline: Color, width: int = 1,
               fill: Color | None = None) -> None:
        """An axis-aligned square of half-side ``half_px`` pixels at world point ``centre``."""
        u, v = self.view.px(centre[0], centre[1])
        self.draw.rectangle([u - half_px, v - half_px, u + half_px, v + half_px], outline=outline,
                            fill=fill, width=width)

    def cross(self, centre: Point, half_px: float, color: Color, width: int = 1) -> None:
        """An X of half-size ``half_px`` pixels at world point ``centre``."""
        u, v = self.view.px(centre[0], centre[1])
        h = half_px
        self.draw.line([(u - h, v - h), (u + h, v + h)], fill=color, width=width)
        self.draw.line([(u - h, v + h), (u + h, v - h)], fill=color, width=width)

    def arrow(self, start: Point, direction: Point, length_px: float,
              color: Color, width: int = 2, head_px: float = 6.0) -> None:
        """An arrow ``length_px`` pixels long from world point ``start`` along world ``direction``."""
        dx, dy = float(direction[0]), float(direction[1])
        n = math.hypot(dx, dy)
        if n < 1e-12 or length_px < 1.0:
            return
        u0, v0 = self.view.px(start[0], start[1])
        ux, uy = dx / n, -dy / n  # pixel rows grow downwards
        u1, v1 = float(u0) + ux * length_px, float(v0) + uy * length_px
        self.draw.line([(u0, v0), (u1, v1)], fill=color, width=width)
        h = min(head_px, 0.6 * length_px)
        self.draw.polygon([(u1, v1), (u1 - ux * h - uy * h * 0.5, v1 - uy * h + ux * h * 0.5),
                           (u1 - ux * h + uy * h * 0.5, v1 - uy * h - ux * h * 0.5)], fill=color)

    def triangle(self, centre: Point, direction: Point, size_px: float,
                 fill: Color, outline: Color | None = None) -> None:
        """A filled triangle pointing along world ``direction``, centroid at world point ``centre``."""
        dx, dy = float(direction[0]), float(direction[1])
        n = math.hypot(dx, dy)
        ux, uy = (dx / n, -dy / n) if n > 1e-12 else (0.0, -1.0)
        u, v = self.view.px(centre[0], centre[1])
        u, v = float(u), float(v)
        s = size_px
        nose = (u + ux * s, v + uy * s)
        left = (u - ux * s * 0.6 - uy * s * 0.6, v - uy * s * 0.6 + ux * s * 0.6)
        right = (u - ux * s * 0.6 + uy * s * 0.6, v - uy * s * 0.6 - ux * s * 0.6)
        self.draw.polygon([nose, left, right], fill=fill, outline=outline)

    def label(self, at: Point, text: str, color: Color = TEXT, offset: tuple[float, float] = (6, -6),
              size: int | None = None) -> None:
        """``text`` near world point ``at`` (``offset`` in pixels, left-bottom anchored)."""
        u, v = self.view.px(at[0], at[1])
        glyphs(size or self.text_px).draw(self.draw, (float(u) + offset[0], float(v) + offset[1]), text,
                                          color, "lb")

    # --- panel-space decorations ----------------------------------------------------------
    def text(self, xy: tuple[float, float], text: str, color: Color = TEXT, size: int | None = None,
             anchor: str = "la") -> None:
        """``text`` at pixel ``xy`` of the panel."""
        glyphs(size or self.text_px).draw(self.draw, xy, text, color, anchor)

    def grid(self, step_m: float, color: Color = GRID) -> None:
        """Grid lines every ``step_m`` metres (skipped when closer than 8 px)."""
        view = self.view
        if step_m * view.scale < 8:
            return
        x_lo, x_hi = view.x0, view.x0 + view.width / view.scale
        y_lo, y_hi = view.y0, view.y0 + view.height / view.scale
        for x in np.arange(math.ceil(x_lo / step_m) * step_m, x_hi, step_m):
            u, _ = view.px(x, 0.0)
            self.draw.line([(float(u), 0), (float(u), view.height)], fill=color)
        for y in np.arange(math.ceil(y_lo / step_m) * step_m, y_hi, step_m):
            _, v = view.px(0.0, y)
            self.draw.line([(0, float(v)), (view.width, float(v))], fill=color)

    def scale_bar(self, unit: str = "m", per_unit: float = 1.0, color: Color = TEXT,
                  fraction: float = 0.25) -> float:
        """A scale bar in the bottom-left corner, at most ``fraction`` of the panel wide, labelled
        in ``unit`` (``per_unit`` metres each); returns its length in metres."""
        view = self.view
        length = nice_length(fraction * view.width / view.scale / per_unit) * per_unit
        px = length * view.scale
        x0, y0 = 8.0, view.height - 8.0
        self.draw.line([(x0, y0), (x0 + px, y0)], fill=color, width=2)
        for x in (x0, x0 + px):
            self.draw.line([(x, y0 - 4), (x, y0 + 1)], fill=color, width=2)
        glyphs(self.text_px).draw(self.draw, (x0 + px / 2, y0 - 5), format_length(length, unit, per_unit),
                                  color, "mb")
        return length

    def title(self, text: str, color: Color = MUTED) -> None:
        """A title in the panel's top-left corner."""
        glyphs(self.text_px).draw(self.draw, (6, 4), text, color, "la")

    def legend(self, entries: Iterable[tuple[Color, str]], corner: str = "tr") -> None:
        """Colour keys, one per line, in the top-right (``tr``) or bottom-right (``br``) corner."""
        entries = list(entries)
        size = self.text_px
        step = size + 3
        y = 4.0 if corner == "tr" else self.view.height - 4.0 - step * len(entries)
        g = glyphs(size)
        for color, name in entries:
            x = self.view.width - 6.0
            g.draw(self.draw, (x, y), name, TEXT, "ra")
            w = g.width(name)
            self.draw.rectangle([x - w - 14, y + 2, x - w - 5, y + size - 1], fill=color)
            y += step


class Frame:
    """The whole image: a background, panels pasted into it, text lines."""

    def __init__(self, size: Size = DEFAULT_SIZE, background: Color = BACKGROUND) -> None:
        w, h = int(size[0]), int(size[1])
        if w < 64 or h < 48:
            raise ValueError(f"frame size must be at least 64x48 pixels, got {w}x{h}")
        self.size = (w, h)
        self.image = Image.new("RGB", (w, h), background)
        self.draw = ImageDraw.Draw(self.image)
        self.text_px = text_size(h)

    def panel(self, placed: PlacedView) -> tuple[Panel, tuple[int, int]]:
        """A panel for the view ``placed`` (see :func:`place`); paste it back with :meth:`paste`."""
        view, at = placed
        return Panel(view, text_px=self.text_px), at

    def paste(self, panel: Panel, at: tuple[int, int]) -> None:
        """Paste ``panel`` with its top-left corner at pixel ``at``, framed by a thin line."""
        self.image.paste(panel.image, at)
        w, h = panel.image.size
        self.draw.rectangle([at[0] - 1, at[1] - 1, at[0] + w, at[1] + h], outline=FRAME_LINE)

    def text(self, xy: tuple[float, float], text: str, color: Color = TEXT, size: int | None = None,
             anchor: str = "la") -> None:
        """``text`` at pixel ``xy`` of the frame."""
        glyphs(size or self.text_px).draw(self.draw, xy, text, color, anchor)

    def lines(self, xy: tuple[float, float], lines: Iterable[tuple[str, Color] | str],
              spacing: float = 1.35) -> float:
        """Text lines from pixel ``xy`` downwards; returns the y below the last one."""
        x, y = xy
        for line in lines:
            text, color = (line, TEXT) if isinstance(line, str) else line
            self.text((x, y), text, color)
            y += self.text_px * spacing
        return y

    def legend_row(self, xy: tuple[float, float], entries: Iterable[tuple[Color, str]]) -> None:
        """Colour keys side by side from pixel ``xy`` to the right."""
        g = glyphs(self.text_px)
        x, y = xy
        size = self.text_px
        for color, name in entries:
            self.draw.rectangle([x, y + 2, x + 9, y + size - 1], fill=color)
            g.draw(self.draw, (x + 13, y), name, TEXT, "la")
            x += 13 + g.width(name) + 14

    def array(self) -> np.ndarray:
        """The frame as an ``(H, W, 3)`` uint8 array (a new, writable array)."""
        return np.array(self.image, dtype=np.uint8)


def format_time(t: float) -> str:
    """Sim time as ``"12.35 s"`` below a minute, ``"12 min 05 s"`` / ``"1 h 02 min 05 s"`` above."""
    if t < 60.0:
        return f"{t:.2f} s"
    s = int(round(t))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"
