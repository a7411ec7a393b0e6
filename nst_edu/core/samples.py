"""Sample images by name, all available offline.

Content photos come from the images bundled in scikit-image's wheel (``skimage.data``; only those
that load without a download). Style images are painted here, with NumPy and PIL, from a seed:
the same ``(name, size, seed)`` always gives the same pixels, and each takes well under a second
at 512 px. They are built to be obvious to a VGG: saturated colours and texture at 10-40 px on a
256 px image, so a style transfer result is unmistakable.

This module only knows the names and paints the pixels (``sample_array``: NumPy, no torch); the
loaders are ``images.load_image`` (which accepts these names) and ``images.load_sample``. It downloads
nothing and imports nothing from the package, so that ``images`` can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = [
    "Sample",
    "SAMPLES",
    "DEFAULT_STYLE_SIZE",
    "content_samples",
    "style_samples",
    "sample_names",
    "is_sample",
    "sample_array",
    "stained_glass",
    "swirls",
    "waves",
]

DEFAULT_STYLE_SIZE = 512


@dataclass(frozen=True)
class Sample:
    """What a sample is: its name, ``"content"`` or ``"style"``, and one line about it."""

    name: str
    kind: str
    description: str


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in (
        Sample("chelsea", "content", "Chelsea the cat, 451x300 (skimage.data)"),
        Sample("astronaut", "content", "astronaut Eileen Collins, 512x512 (skimage.data)"),
        Sample("coffee", "content", "a cup of coffee, 600x400 (skimage.data)"),
        Sample("rocket", "content", "a rocket on its launch pad, 640x427 (skimage.data)"),
        Sample("camera", "content", "the cameraman, gray, 512x512 (skimage.data)"),
        Sample("stained_glass", "style", "Voronoi mosaic of jewel-tone glass with dark lead lines"),
        Sample("swirls", "style", "swirling blue and yellow brush strokes around vortices"),
        Sample("waves", "style", "ukiyo-e bands of blue water with cream foam crests"),
    )
}


def content_samples() -> list[str]:
    """Names of the content photos."""
    return [n for n, s in SAMPLES.items() if s.kind == "content"]


def style_samples() -> list[str]:
    """Names of the generated style images."""
    return [n for n, s in SAMPLES.items() if s.kind == "style"]


def sample_names() -> list[str]:
    """All sample names: content photos first, then styles."""
    return list(SAMPLES)


def is_sample(name) -> bool:
    """True when ``name`` is a sample name."""
    return isinstance(name, str) and name in SAMPLES


def sample_array(name: str, size: int | None = None, seed: int = 0) -> np.ndarray:
    """The pixels of sample ``name``; ``images.load_sample`` checks the arguments and makes the tensor.

    Photos come at their own size; styles are painted at ``size`` x ``size`` (``DEFAULT_STYLE_SIZE``
    when ``None``) from ``seed``.

    Shapes: -> (H, W, 3) uint8
    """
    if SAMPLES[name].kind == "content":
        import skimage.data  # lazy: importing scikit-image takes a while

        return getattr(skimage.data, name)()
    painter = {"stained_glass": stained_glass, "swirls": swirls, "waves": waves}[name]
    return painter(DEFAULT_STYLE_SIZE if size is None else int(size), seed)


# ---------------------------------------------------------------------------------------------
# Painters: each returns a uint8 (size, size, 3) array, lengths scaled by size so that the
# picture looks the same at every resolution.
# ---------------------------------------------------------------------------------------------

_JEWELS = (
    np.array(
        [
            (155, 17, 30),
            (200, 30, 45),  # ruby
            (15, 82, 186),
            (25, 45, 150),
            (40, 120, 220),  # sapphire
            (0, 140, 100),
            (20, 170, 90),  # emerald
            (120, 50, 170),
            (153, 80, 204),  # amethyst
            (240, 170, 10),
            (250, 205, 40),  # amber, citrine
            (230, 100, 20),  # fire opal
            (30, 190, 200),  # turquoise
        ],
        np.float32,
    )
    / 255.0
)


def stained_glass(size: int = DEFAULT_STYLE_SIZE, seed: int = 0) -> np.ndarray:
    """A Voronoi mosaic of jewel-tone glass cells (about 11 per side) joined by dark lead lines.

    Each pixel belongs to its nearest seed point; its distance to the cell's edge is exact,
    $d = \\min_k \\frac{|x - p_k|^2 - |x - p_1|^2}{2 |p_k - p_1|}$, which draws the lead lines.

    Shapes: -> (size, size, 3) uint8
    """
    size, rng = _check_paint_args(size, seed)
    n = 11
    cell = size / n
    # Jittered grid: cells of even size, and a pixel's nearest seed is always in the 3x3 block
    # of grid squares around it, so 9 candidates per pixel suffice.
    gy, gx = np.mgrid[0:n, 0:n].astype(np.float32)  # (n, n)
    py = (gy + 0.1 + 0.8 * rng.random((n, n), np.float32)) * cell  # (n, n)
    px = (gx + 0.1 + 0.8 * rng.random((n, n), np.float32)) * cell  # (n, n)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # (size, size)
    ci = np.minimum((ys // cell).astype(np.int64), n - 1)
    cj = np.minimum((xs // cell).astype(np.int64), n - 1)

    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    ii = np.stack([ci + dy for dy, _ in offsets])  # (9, size, size)
    jj = np.stack([cj + dx for _, dx in offsets])  # (9, size, size)
    valid = (ii >= 0) & (ii < n) & (jj >= 0) & (jj < n)
    ii, jj = ii.clip(0, n - 1), jj.clip(0, n - 1)
    cand_y, cand_x, cand_id = py[ii, jj], px[ii, jj], ii * n + jj  # (9, size, size) each
    d2 = np.where(valid, (ys - cand_y) ** 2 + (xs - cand_x) ** 2, np.inf)  # (9, size, size)

    k1 = d2.argmin(axis=0)[None]  # (1, size, size)
    y1, x1, id1, d1 = (np.take_along_axis(a, k1, 0)[0] for a in (cand_y, cand_x, cand_id, d2))
    sep = np.sqrt((cand_y - y1) ** 2 + (cand_x - x1) ** 2)  # (9, size, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        edge = np.where(sep > 1e-6, (d2 - d1) / (2.0 * sep), np.inf).min(axis=0)  # (size, size)

    n_cells = n * n
    colour = _JEWELS[rng.integers(0, len(_JEWELS), n_cells)]  # (n_cells, 3)
    colour = colour * rng.uniform(0.8, 1.15, (n_cells, 1)).astype(np.float32)
    # Shading: each pane lit from its own direction, darker toward the lead, and mottled like
    # hand-made glass at two scales.
    angle = rng.uniform(0.0, 2.0 * np.pi, n_cells)
    light = ((ys - y1) * np.sin(angle)[id1] + (xs - x1) * np.cos(angle)[id1]) / cell
    shade = (1.0 + 0.35 * light) * (0.75 + 0.25 * np.clip(edge / (0.25 * cell), 0.0, 1.0))
    mottle = 0.5 * _smooth_noise(rng, size, size // 6) + 0.5 * _smooth_noise(rng, size, size // 40)
    shade = shade * (0.8 + 0.4 * mottle)
    glass = colour[id1] * shade[..., None]  # (size, size, 3)

    lead_half_width = 0.07 * cell
    # One-pixel ramp rather than a hard step: antialiased lead edges.
    opacity = np.clip((edge - lead_half_width) / 1.2, 0.0, 1.0)[..., None]  # (size, size, 1)
    lead_shine = 0.7 + 0.6 * np.clip(1.0 - edge / lead_half_width, 0.0, 1.0)[..., None]
    lead = np.array([0.09, 0.08, 0.10], np.float32) * lead_shine  # (size, size, 3)
    return _to_uint8(glass * opacity + lead * (1.0 - opacity))


_BLUES = np.array(
    [
        (18, 40, 110),
        (30, 70, 160),
        (50, 100, 190),
        (70, 130, 200),
        (20, 55, 130),
        (95, 150, 210),
        (40, 90, 150),
    ],
    np.float32,
)
_YELLOWS = np.array(
    [(240, 200, 60), (250, 225, 110), (230, 170, 40), (255, 240, 170), (200, 180, 80)],
    np.float32,
)


def swirls(size: int = DEFAULT_STYLE_SIZE, seed: int = 0) -> np.ndarray:
    """Thousands of short brush strokes following a swirling flow, in blues and yellows.

    The flow is a gentle left-to-right drift plus five Gaussian vortices; strokes are traced
    along it (all at once, with NumPy) and drawn with PIL at twice the size, then downsampled so
    that they are antialiased. Strokes near a vortex core are mostly yellow, the rest blue.

    Shapes: -> (size, size, 3) uint8
    """
    size, rng = _check_paint_args(size, seed)
    n_vortex = 5
    vy0, vx0 = rng.uniform(0.1, 0.9, n_vortex), rng.uniform(0.1, 0.9, n_vortex)
    radius = rng.uniform(0.12, 0.22, n_vortex)
    spin = rng.choice([-1.0, 1.0], n_vortex) * rng.uniform(0.8, 1.4, n_vortex)
    phase = rng.uniform(0.0, 2.0 * np.pi, 2)

    def flow(y, x):
        """Unit direction of the flow at points in the unit square, shapes (n,) -> (n,), (n,)."""
        vy = 0.08 * np.sin(3.0 * np.pi * x + phase[0])
        vx = 0.35 + 0.1 * np.sin(4.0 * np.pi * y + phase[1])
        for cy, cx, r, s in zip(vy0, vx0, radius, spin):
            dy, dx = y - cy, x - cx
            w = s * np.exp(-(dy * dy + dx * dx) / r**2) / r
            # The tangent, turned a little inward, makes spirals rather than circles.
            vy = vy + w * (dx - 0.25 * dy)
            vx = vx + w * (-dy - 0.25 * dx)
        norm = np.sqrt(vy * vy + vx * vx) + 1e-9
        return vy / norm, vx / norm

    big = 2 * size
    canvas = Image.new("RGB", (big, big), (12, 22, 60))
    draw = ImageDraw.Draw(canvas)

    def layer(n, steps, width_range, yellow_bias, step=0.012):
        y, x = rng.uniform(-0.05, 1.05, n), rng.uniform(-0.05, 1.05, n)
        # Trace half the stroke backward and half forward so strokes are centred on their
        # seed points and the image edges are covered as densely as the middle.
        back = [(y, x)]
        for _ in range(steps // 2):
            dy, dx = flow(*back[-1])
            back.append((back[-1][0] - step * dy, back[-1][1] - step * dx))
        fwd = [(y, x)]
        for _ in range(steps - steps // 2):
            dy, dx = flow(*fwd[-1])
            fwd.append((fwd[-1][0] + step * dy, fwd[-1][1] + step * dx))
        path = back[::-1] + fwd[1:]
        pts = np.stack([np.stack([px, py], -1) for py, px in path], 1) * big  # (n, steps+1, 2)

        core = np.zeros(n)
        for cy, cx, r in zip(vy0, vx0, radius):
            core = np.maximum(core, np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (0.6 * r) ** 2))
        yellow = rng.random(n) < np.clip(yellow_bias + 0.9 * core, 0.0, 1.0)
        colours = np.where(
            yellow[:, None],
            _YELLOWS[rng.integers(0, len(_YELLOWS), n)],
            _BLUES[rng.integers(0, len(_BLUES), n)],
        )  # (n, 3)
        colours = np.clip(colours * rng.uniform(0.85, 1.15, (n, 1)), 0, 255).astype(int)
        ridges = np.clip(colours * 1.25 + 20, 0, 255).astype(int)  # the lit ridge of paint
        widths = np.maximum(1, (rng.uniform(*width_range, n) * big).astype(int))
        for k in range(n):  # one PIL call per stroke: a loop over strokes, not pixels
            line = [tuple(p) for p in pts[k]]
            draw.line(line, fill=tuple(colours[k]), width=int(widths[k]), joint="curve")
            draw.line(line[1:-1], fill=tuple(ridges[k]), width=max(1, int(widths[k]) // 3))

    layer(700, 10, (0.012, 0.025), 0.0)
    layer(1400, 8, (0.008, 0.016), 0.05)
    layer(900, 6, (0.005, 0.010), 0.1)
    return np.asarray(canvas.resize((size, size), Image.LANCZOS)).copy()


_SEA = (
    np.array(
        [(20, 45, 95), (35, 80, 140), (60, 120, 170), (15, 35, 80), (90, 150, 190), (28, 62, 120)],
        np.float32,
    )
    / 255.0
)
_FOAM = np.array([0.95, 0.92, 0.82], np.float32)


def waves(size: int = DEFAULT_STYLE_SIZE, seed: int = 0) -> np.ndarray:
    """Woodblock-print waves: stacked blue bands with clawed cream foam crests and key lines.

    A phase field $\\varphi(x, y) = 7y + 0.9\\,c(x')$, where $c$ is a sum of sines of a warped
    $x'$, is cut into bands at integer values; the fractional part places foam, striations and
    dark outlines inside each band.

    Shapes: -> (size, size, 3) uint8
    """
    size, rng = _check_paint_args(size, seed)
    ys, xs = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size  # (size, size)
    p = rng.uniform(0.0, 2.0 * np.pi, 6).astype(np.float32)
    # Warping x by y makes the crests lean and hook instead of being plain sine waves.
    xw = xs + 0.035 * np.sin(2 * np.pi * (3 * ys + 1.3 * xs) + p[0]) + 0.02 * np.sin(14 * np.pi * xs + p[1])
    crest = (
        0.55 * np.sin(4.0 * np.pi * xw + p[2])
        + 0.3 * np.sin(8.2 * np.pi * xw + p[3] + 3 * ys)
        + 0.15 * np.sin(18.0 * np.pi * xw + p[4])
    )
    phi = 7.0 * ys + 0.9 * crest * (0.6 + 0.4 * np.sin(2.6 * np.pi * ys + p[5]))
    band = np.floor(phi).astype(np.int64)
    f = phi - band  # position inside the band: 0 at its crest, 1 at its trough

    water = _SEA[band % len(_SEA)] * (0.75 + 0.35 * (1.0 - f))[..., None]  # (size, size, 3)
    striation = np.sin(10.0 * np.pi * f) > 0.7
    water = water * (1.0 - 0.18 * striation)[..., None]
    claws = 0.5 + 0.5 * np.sin(2.0 * np.pi * (38.0 * xw + 2.5 * f))
    foam = np.clip((0.10 + 0.10 * claws - f) / 0.02, 0.0, 1.0)[..., None]  # (size, size, 1)
    img = water * (1.0 - foam) + _FOAM * foam
    key_line = np.clip(np.minimum(f, 1.0 - f) / 0.015, 0.35, 1.0)[..., None]
    return _to_uint8(img * key_line)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a random (cells, cells) grid upsampled bicubically to (size, size)."""
    grid = rng.random((max(2, cells), max(2, cells)), np.float32)
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC))


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _check_paint_args(size, seed) -> tuple[int, np.random.Generator]:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(size), np.random.default_rng(int(seed))
