"""Draw recorded evaluation episodes (:class:`~hlynr.evaluation.trajectories.Trajectories`):
one video per episode, panels side by side (a policy beside a baseline on the same seed), one
still picture per episode, and the actor's attention weights where the record has them.

Every frame is the env's own renderer (``draw_frame``) applied to the recorded snapshots, under a
header naming the row; nothing is re-simulated. Videos are encoded with imageio's FFmpeg writer
(the binary shipped by the ``imageio-ffmpeg`` wheel; H.264 MP4) or Pillow (GIF); every file is
written to a temporary name in its folder and renamed when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from hlynr.envs.drawing import BACKGROUND, FRAME_LINE, MUTED, TEXT, Color, glyphs, text_size
from hlynr.envs.rendering import DEFAULT_SIZE, Size
from hlynr.envs.replay import AttentionGeometry, attention_geometry
from hlynr.evaluation.trajectories import Trajectories

HEADER = 32
"""Pixels above each panel for its label (480 + 32 = 512: a multiple of 16, as H.264 wants)."""
GAP = 16
"""Pixels between panels side by side (two 640-pixel panels: 1296, a multiple of 16)."""
ATTENTION: Color = (130, 40, 200)
REACH = 0.45
"""Attention lines run from the agent this fraction of the way to the entity."""
GOOD: Color = (30, 150, 60)
BAD: Color = (205, 35, 35)
FORMATS = ("mp4", "gif")


@dataclass
class Panel:
    """One recorded episode of one row, ready to draw."""

    label: str
    states: list[Any]
    scene: Any
    draw: Callable[[Sequence[Any], Any, Size], np.ndarray]
    final: dict[str, Any]
    attention: np.ndarray | None = None
    """``(T, R, K)`` weights of the actor per step, agent row and slot (NaN: no weight)."""
    valid: np.ndarray | None = None
    geometry: AttentionGeometry | None = None

    @property
    def n_frames(self) -> int:
        """Frames of the episode: its first state and one per step."""
        return len(self.states)


def panel(traj: Trajectories, row: int, episode: int) -> Panel:
    """The panel of ``row``'s ``episode`` of ``traj``."""
    states, scene = traj.states(row, episode)
    module = traj.renderer()
    att = valid = None
    geometry = None
    if "attention" in traj.columns and traj.meta["rows"][row].get("attention_slots"):
        idx = traj.steps(row, episode)
        r = int(traj.meta["rows"][row]["rows_per_episode"])
        k = int(traj.meta["rows"][row]["attention_slots"])
        att = traj.columns["attention"][idx][:, :k].reshape(-1, r, k)
        valid = traj.columns["attention_valid"][idx][:, :k].reshape(-1, r, k)
        geometry = attention_geometry(traj.meta["env_id"])
    return Panel(traj.labels[row], states, scene, module.draw_frame, traj.final_info(row, episode),
                 att, valid, geometry)


# ------------------------------------------------------------------ frames
def outcome_text(final: dict[str, Any], success_key: str = "is_success") -> tuple[str, bool | None]:
    """A one-line outcome of an episode from its final-step info: success or not, the miss
    distance, losses of separation, the termination reason (what the env reports)."""
    parts: list[str] = []
    success = bool(final[success_key]) if success_key in final else None
    if success is not None:
        parts.append("SUCCESS" if success else "FAILURE")
    reason = final.get("termination_reason")
    if isinstance(reason, str) and reason:
        parts.append(reason.replace("_", " "))
    if final.get("escaped"):
        parts.append("target escaped")
    if final.get("agents_lost"):
        parts.append(f"agents lost {int(final['agents_lost'])}")
    if "miss_distance" in final:
        parts.append(f"miss {final['miss_distance']:.1f} m")
    if "los_events" in final:
        parts.append(f"LoS {int(final['los_events'])}")
    if "conflicts" in final:
        parts.append(f"conflicts {int(final['conflicts'])}")
    if "episode.r" in final:
        parts.append(f"return {final['episode.r']:.2f}")
    return ",  ".join(parts), success


def _header(width: int, left: str, right: str, color: Color = TEXT) -> Image.Image:
    img = Image.new("RGB", (width, HEADER), BACKGROUND)
    draw = ImageDraw.Draw(img)
    g = glyphs(14)
    g.draw(draw, (8, 8), left, color, "la")
    g.draw(draw, (width - 8, 9), right, MUTED, "ra")
    draw.line([(0, HEADER - 1), (width, HEADER - 1)], fill=FRAME_LINE)
    return img


def draw_attention(frame: np.ndarray, p: Panel, t: int, size: Size) -> np.ndarray:
    """``frame`` (of state ``t``) with the attention of step ``t`` drawn (the final state, where
    no action is taken, shows the last step's): from each acting agent row, a line toward the
    entity of each valid slot, wider and more opaque the larger the weight. Each line stops
    short of half way, so the weights of a pair of agents attending to each other stay apart."""
    if p.attention is None or p.valid is None or p.geometry is None or not len(p.attention):
        return frame
    geo = p.geometry
    step = min(t, len(p.attention) - 1)
    w, ok = p.attention[step], p.valid[step]
    decided = p.states[step]  # the state the weights were computed on: who is in which slot
    pos = geo.positions(p.states[t])
    live = geo.live(decided) & geo.live(p.states[t])
    slots = geo.slots(decided, w.shape[1])
    view, (left, top) = geo.view(p.scene, size)
    base = Image.fromarray(frame).convert("RGBA")
    over = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    for i in np.flatnonzero(live).tolist():
        a = view.px(*pos[i])
        for j in range(w.shape[1]):
            weight = float(w[i, j])
            if not ok[i, j] or not np.isfinite(weight) or weight <= 0.0:
                continue
            b = view.px(*(pos[i] + REACH * (pos[slots[i, j]] - pos[i])))
            alpha = int(round(60 + 195 * min(weight, 1.0)))
            draw.line([(left + float(a[0]), top + float(a[1])), (left + float(b[0]), top + float(b[1]))],
                      fill=(*ATTENTION, alpha), width=1 + int(round(5 * min(weight, 1.0))))
    return np.asarray(Image.alpha_composite(base, over).convert("RGB"))


def panel_frame(p: Panel, t: int, size: Size = DEFAULT_SIZE) -> np.ndarray:
    """Frame ``t`` of a panel (held at its last state after the episode ended), with its header."""
    n = p.n_frames
    i = min(t, n - 1)
    frame = p.draw(p.states[:i + 1], p.scene, size)
    frame = draw_attention(frame, p, i, size)
    right = f"step {i}/{n - 1}" + ("  (ended)" if t > n - 1 else "")
    shows = p.attention is not None and p.geometry is not None
    head = _header(frame.shape[1], p.label + ("   (purple: attention)" if shows else ""), right)
    return np.concatenate([np.asarray(head), frame], axis=0)


def side_by_side(images: Sequence[np.ndarray]) -> np.ndarray:
    """Images of equal height next to each other, separated by a band of :data:`GAP` pixels."""
    if len(images) == 1:
        return images[0]
    gap = np.full((images[0].shape[0], GAP, 3), FRAME_LINE, np.uint8)
    parts: list[np.ndarray] = []
    for img in images:
        parts += [img, gap]
    return np.concatenate(parts[:-1], axis=1)


def frames(panels: Sequence[Panel], size: Size = DEFAULT_SIZE) -> Iterator[np.ndarray]:
    """The frames of a video of ``panels`` side by side (the longest episode sets the length)."""
    n = max(p.n_frames for p in panels)
    for t in range(n):
        yield side_by_side([panel_frame(p, t, size) for p in panels])


def n_frames(panels: Sequence[Panel]) -> int:
    """Frames in the video of ``panels``."""
    return max(p.n_frames for p in panels)


# ------------------------------------------------------------------ still
def _strip(width: int, title: str, values: np.ndarray) -> Image.Image:
    """A small strip chart of ``values`` (per step, in [0, 1], NaN for gaps)."""
    h = 34
    img = Image.new("RGB", (width, h), BACKGROUND)
    draw = ImageDraw.Draw(img)
    g = glyphs(11)
    g.draw(draw, (8, 11), title, TEXT, "la")
    x0, x1, y0, y1 = 130, width - 10, 4, h - 5
    draw.rectangle([x0, y0, x1, y1], fill=(255, 255, 255), outline=FRAME_LINE)
    draw.line([(x0, (y0 + y1) / 2), (x1, (y0 + y1) / 2)], fill=(232, 232, 228))
    n = len(values)
    if n:
        xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
        ys = y1 - np.clip(values, 0.0, 1.0) * (y1 - y0)
        seg: list[tuple[float, float]] = []
        for x, y in zip(xs.tolist(), ys.tolist()):
            if np.isfinite(y):
                seg.append((x, y))
                continue
            if len(seg) > 1:
                draw.line(seg, fill=ATTENTION, width=2)
            seg = []
        if len(seg) > 1:
            draw.line(seg, fill=ATTENTION, width=2)
        elif len(seg) == 1:
            draw.point(seg, fill=ATTENTION)
    return img


def attention_over_time(p: Panel) -> np.ndarray | None:
    """``(T, K)``: per step and slot, the mean weight over the agent rows with that slot valid
    (NaN where none)."""
    if p.attention is None or p.valid is None:
        return None
    w = np.where(p.valid, np.nan_to_num(p.attention), 0.0)
    n = p.valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(n > 0, w.sum(axis=1) / np.maximum(n, 1), np.nan)
    return out


def still(p: Panel, size: Size = DEFAULT_SIZE, success_key: str = "is_success") -> np.ndarray:
    """The whole episode in one picture: its last frame (every path), the outcome and, with
    attention, a strip chart per slot of the mean weight over the episode."""
    top = panel_frame(p, p.n_frames - 1, size)
    width = top.shape[1]
    text, success = outcome_text(p.final, success_key)
    cap = Image.new("RGB", (width, 28), BACKGROUND)
    color = TEXT if success is None else (GOOD if success else BAD)
    glyphs(max(text_size(size[1]) + 1, 12)).draw(ImageDraw.Draw(cap), (8, 7), text or "-", color, "la")
    parts = [top, np.asarray(cap)]
    over = attention_over_time(p)
    if over is not None:
        parts.append(np.asarray(_header(width, "attention over the episode (mean over agents)",
                                        "slot 0 = nearest")))
        for j in range(over.shape[1]):
            parts.append(np.asarray(_strip(width, f"slot {j}: weight 0..1", over[:, j])))
    return np.concatenate(parts, axis=0)


def stills_side_by_side(images: Sequence[np.ndarray]) -> np.ndarray:
    """Stills of different heights next to each other (shorter ones padded below)."""
    h = max(img.shape[0] for img in images)
    padded = [np.concatenate([img, np.full((h - img.shape[0], img.shape[1], 3), BACKGROUND, np.uint8)])
              if img.shape[0] < h else img for img in images]
    return side_by_side(padded)


# ------------------------------------------------------------------ files
def _tmp(path: Path) -> Path:
    """A new temporary file beside ``path`` (same suffix, so writers pick the same format), with
    the permissions an ordinary new file gets."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(name, default_mode())
    return Path(name)


def default_mode() -> int:
    """The permission bits of a newly created file (0o666 less the process's umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_video(images: Iterator[np.ndarray], path: Path, fps: float) -> Path:
    """Encode ``images`` to ``path`` (``.mp4``: H.264 through imageio-ffmpeg; ``.gif``: Pillow),
    atomically."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"video format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    tmp = _tmp(path)
    try:
        if fmt == "mp4":
            import imageio.v2 as imageio

            writer: Any = imageio.get_writer(str(tmp), format="FFMPEG", mode="I", fps=fps,
                                             codec="libx264", pixelformat="yuv420p",
                                             macro_block_size=16, ffmpeg_log_level="error")
            with writer:
                for img in images:
                    writer.append_data(img)
        else:
            # fast octree quantisation: four times faster than median cut, and the frames are
            # flat colours
            pics = [Image.fromarray(img).quantize(colors=255, method=Image.Quantize.FASTOCTREE)
                    for img in images]
            pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:],
                         duration=max(20, int(round(1000.0 / fps))), loop=0, optimize=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_episode(panels: Sequence[Panel], out: Path, stem: str, fmt: str, fps: float,
                  success_key: str = "is_success") -> tuple[Path, Path]:
    """Write the video (``out/stem.fmt``) and the still (``out/stem.png``) of ``panels`` side by
    side, each atomically; returns both paths."""
    video = write_video(frames(panels), out / f"{stem}.{fmt}", fps)
    picture = write_png(stills_side_by_side([still(p, success_key=success_key) for p in panels]),
                        out / f"{stem}.png")
    return video, picture


def write_png(image: np.ndarray, path: Path) -> Path:
    """Write ``image`` as a PNG at ``path``, atomically."""
    tmp = _tmp(path)
    try:
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
