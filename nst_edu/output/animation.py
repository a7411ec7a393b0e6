"""Frames of an optimization turned into a GIF or an MP4, and shown inline in a notebook.

What it is: ``save_gif``, ``gif_bytes``, ``save_mp4``, ``show_gif``, ``filmstrip`` and ``frame_changes`` over
the frames a ``transfer.Result`` holds: a list of ``(step, uint8 array (H, W, 3))``. Frames of different sizes
(a coarse-to-fine run) are resized to the last frame's size. Files are written atomically.

What it is not: no frame capture (``transfer.py`` does it) and no widgets (``widgets.py``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from . import fileio

Frames = Sequence[tuple[int, np.ndarray]]


def uniform_frames(frames: Frames, max_side: int | None = None) -> list[np.ndarray]:
    """The frames' images, all resized to the last frame's (H, W), optionally shrunk to ``max_side``."""
    if not frames:
        raise ValueError("no frames to animate; run with frame_every > 0")
    h, w = frames[-1][1].shape[:2]
    if max_side and max(h, w) > max_side:
        h, w = max(1, round(h * max_side / max(h, w))), max(1, round(w * max_side / max(h, w)))
    out = []
    for _, frame in frames:
        if frame.shape[:2] != (h, w):
            frame = np.asarray(Image.fromarray(frame).resize((w, h), Image.BILINEAR))
        out.append(frame)
    return out


def frame_changes(frames: Frames) -> np.ndarray:
    r"""How much the picture changes from one frame to the next, in [0, 1] pixel units.

    change[k] = (1 / (3 H W)) Σ_{h,w,c} |F_{k+1}[h, w, c] − F_k[h, w, c]| / 255,  k = 0 … K − 2

    computed in float64 (uint8 differences would wrap around). Shapes: ``frames``, K ≥ 2 pairs
    ``(step, uint8 (H, W, 3))`` (resized to the last frame's size first, as for the GIF) → (K − 1,) float64.
    """
    if len(frames) < 2:
        raise ValueError(
            f"frame_changes needs at least 2 frames, got {len(frames)}; run with a smaller frame_every"
        )
    stack = np.stack(uniform_frames(frames)).astype(np.float64) / 255.0  # (K, H, W, 3) in [0, 1]
    return np.abs(np.diff(stack, axis=0)).mean(axis=(1, 2, 3))  # (K − 1,)


def gif_bytes(frames: Frames, fps: float = 8.0, max_side: int | None = None, hold_last: float = 1.0) -> bytes:
    """An endlessly looping GIF of the frames; the last one is held for ``hold_last`` seconds."""
    stack = [Image.fromarray(f) for f in uniform_frames(frames, max_side)]
    durations = [int(1000 / fps)] * len(stack)
    durations[-1] = max(durations[-1], int(1000 * hold_last))
    buf = io.BytesIO()
    stack[0].save(
        buf, format="GIF", save_all=True, append_images=stack[1:], duration=durations, loop=0, optimize=True
    )
    return buf.getvalue()


def save_gif(frames: Frames, path: str | Path, fps: float = 8.0, max_side: int | None = None) -> Path:
    """Write the frames as a looping GIF to ``path`` (atomically) and return the path."""
    return fileio.atomic_write_bytes(path, gif_bytes(frames, fps, max_side))


def save_mp4(frames: Frames, path: str | Path, fps: float = 8.0) -> Path:
    """Write the frames as an H.264 MP4 (through imageio-ffmpeg); sides are padded to even numbers."""
    import imageio.v2 as imageio

    stack = uniform_frames(frames)
    h, w = stack[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))  # yuv420p needs even sides
    with fileio.atomic_path(path) as tmp:
        with imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=1,
            ffmpeg_log_level="error",
        ) as writer:
            for frame in stack:
                writer.append_data(np.pad(frame, pad, mode="edge"))
    return Path(path)


def show_gif(frames_or_path, fps: float = 8.0, max_side: int | None = 256):
    """Display an animation inline in a notebook (an ``IPython.display.Image``)."""
    from IPython.display import Image as IPImage

    if isinstance(frames_or_path, (str, Path)):
        return IPImage(data=Path(frames_or_path).read_bytes(), format="gif")
    return IPImage(data=gif_bytes(frames_or_path, fps, max_side), format="gif")


def filmstrip(frames: Frames, n: int = 6, height: float = 2.2):
    """A figure of ``n`` frames evenly spaced over the run, each titled with its step."""
    from matplotlib.figure import Figure

    if not frames:
        raise ValueError("no frames to show")
    n = min(n, len(frames))
    picks = sorted({round(i * (len(frames) - 1) / max(1, n - 1)) for i in range(n)})
    fig = Figure(figsize=(height * len(picks), height * 1.1), layout="constrained")
    for k, index in enumerate(picks):
        ax = fig.add_subplot(1, len(picks), k + 1)
        step, frame = frames[index]
        ax.imshow(frame)
        ax.set_title(f"step {step}", fontsize=9)
        ax.axis("off")
    return fig
