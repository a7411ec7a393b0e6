"""The widget lab's headless side: one ``transfer.run`` in a worker thread, with Stop, and the lab's helpers.

What it is: ``BackgroundRun`` starts ``transfer.run(content, style, config, callback=…, stop=event,
progress=False)`` in a daemon thread, refuses a second start while one is running, stops through a
``threading.Event`` (the loop checks it before every step, so Stop takes effect within one step and keeps the
partial result), catches every exception of the run and hands ``(result, error)`` to ``on_done``. ``Throttle``
decides when a view is due for a redraw; ``code_for`` writes the Python that reproduces a run; ``png_bytes``
encodes an image; ``save_result`` writes the result PNG and the GIF under fresh names.

What it is not: no widgets (``widgets.py`` builds the controls and shows what this reports) and no
optimization (``transfer.run`` is the one loop; nothing here changes what it computes).
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core import images, transfer
from ..core.config import PRESETS, Config
from ..output import animation

StepCallback = Callable[[transfer.StepInfo], None]
DoneCallback = Callable[["transfer.Result | None", "BaseException | None"], None]


class AlreadyRunningError(RuntimeError):
    """``BackgroundRun.start`` was called while a run is still going."""


class BackgroundRun:
    """One style-transfer run at a time in a daemon worker thread.

    ``on_step(StepInfo)`` is called in the worker after every step; an exception there is passed to
    ``on_view_error`` (the run goes on: a broken view must not kill an hour of optimization).
    ``on_done(result, error)`` is called in the worker when the run ends: ``error`` is ``None`` for a finished
    or stopped run; for ``NonFiniteCostError`` ``result`` is the last good result it carries; for any other
    exception ``result`` is ``None``. ``wait()`` returns after ``on_done`` has returned.
    """

    def __init__(self, on_view_error: Callable[[BaseException], None] | None = None):
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._on_view_error = on_view_error
        self.result: transfer.Result | None = None
        self.error: BaseException | None = None
        self.config: Config | None = None  # the frozen config of the current / last run

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        content,
        style,
        config: Config,
        on_step: StepCallback | None = None,
        on_done: DoneCallback | None = None,
    ) -> None:
        """Start a run; ``AlreadyRunningError`` if one is going (the check and the start are atomic)."""
        if not isinstance(config, Config):
            raise TypeError(f"config must be a nst_edu.Config, got {type(config).__name__}")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise AlreadyRunningError("a run is already going; press Stop or wait for it to finish")
            self._stop = threading.Event()
            self.config = config  # a frozen dataclass: later control changes cannot reach it
            self.result = self.error = None
            self._thread = threading.Thread(
                target=self._work,
                name="nst-lab-run",
                daemon=True,
                args=(content, style, config, self._stop, on_step, on_done),
            )
            self._thread.start()

    def stop(self) -> bool:
        """Ask the run to stop after its current step; ``False`` when nothing is running."""
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive:
                self._stop.set()
            return alive

    def wait(self, timeout: float | None = None) -> bool:
        """Join the worker; ``True`` when no run is going any more."""
        with self._lock:
            thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _work(self, content, style, config, stop, on_step, on_done) -> None:
        def callback(info: transfer.StepInfo) -> None:
            if on_step is None:
                return
            try:
                on_step(info)
            except Exception as exc:  # noqa: BLE001 - reported, and the run goes on
                if self._on_view_error is not None:
                    self._on_view_error(exc)

        result = error = None
        try:
            result = transfer.run(content, style, config, callback=callback, stop=stop, progress=False)
        except transfer.NonFiniteCostError as exc:
            result, error = exc.result, exc
        except Exception as exc:  # noqa: BLE001 - everything goes to the lab's status, nothing to the log
            error = exc
        with self._lock:
            self.result, self.error = result, error
        if on_done is not None:
            try:
                on_done(result, error)
            except Exception as exc:  # noqa: BLE001
                if self._on_view_error is not None:
                    self._on_view_error(exc)


class Throttle:
    """Due at most once per ``interval_s`` seconds; ``due(force=True)`` always is (first and last update)."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.perf_counter):
        self.interval_s, self._clock, self._last = interval_s, clock, None

    def reset(self) -> None:
        self._last = None

    def due(self, force: bool = False) -> bool:
        now = self._clock()
        if force or self._last is None or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


class LatestDrawer:
    """Draws the newest posted state in its own daemon thread, at most once per ``interval_s``.

    For views that are slow to draw (a matplotlib figure takes 0.1–1 s on a busy CPU): the run only ``post``s
    a state, which replaces any state not drawn yet, and goes on with its next step. ``finish(state)`` draws
    the last state at once and ends the thread; ``join`` waits for that. An exception in ``draw`` goes to
    ``on_error`` and the drawer goes on.

    Where one draw takes longer (a busy CPU), the gap grows to ``BUSY_FACTOR`` times the last draw's duration,
    so that drawing takes at most about a quarter of the time and the run keeps the rest.
    """

    BUSY_FACTOR = 4.0

    def __init__(
        self,
        draw: Callable[[object], None],
        interval_s: float,
        on_error: Callable[[BaseException], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self._draw, self.interval_s, self._on_error, self._clock = draw, interval_s, on_error, clock
        self._cond = threading.Condition()
        self._state, self._version, self._drawn, self._last = None, 0, 0, None
        self._gap = interval_s
        self._finishing = False
        self._thread = threading.Thread(target=self._loop, name="nst-lab-draw", daemon=True)
        self._thread.start()

    def post(self, state) -> None:
        with self._cond:
            self._state, self._version = state, self._version + 1
            self._cond.notify()

    def finish(self, state=None) -> None:
        """Draw ``state`` (if given; else what is pending) without waiting for the interval, then stop."""
        with self._cond:
            if state is not None:
                self._state, self._version = state, self._version + 1
            self._finishing = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    pending = self._version > self._drawn
                    wait = (
                        0.0
                        if self._last is None or self._finishing
                        else self._last + self._gap - self._clock()
                    )
                    if pending and wait <= 0:
                        state, self._drawn = self._state, self._version
                        break
                    if self._finishing and not pending:
                        return
                    self._cond.wait(wait if pending else None)
            self._last = self._clock()
            try:
                self._draw(state)
            except Exception as exc:  # noqa: BLE001 - a broken view is reported, the run goes on
                if self._on_error is not None:
                    self._on_error(exc)
            self._gap = max(self.interval_s, self.BUSY_FACTOR * (self._clock() - self._last))


def png_bytes(image) -> bytes:
    """PNG bytes of a (1, 3, H, W) tensor in [0, 1] or an (H, W, 3) uint8 array."""
    pil = (
        images.to_pil(image.detach().float().cpu())
        if isinstance(image, torch.Tensor)
        else Image.fromarray(np.asarray(image, dtype=np.uint8))
    )
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)  # speed over size: previews are sent many times
    return buf.getvalue()


def code_for(
    content: str,
    style: str,
    config: Config,
    content_note: str = "",
    style_note: str = "",
    preset: str | None = None,
) -> str:
    """Python source that reproduces the run: the import, the config and the ``nst_edu.run`` call.

    With ``preset`` the config is written as ``nst_edu.preset(preset, …)`` with the fields that differ from
    that preset, else as ``Config(…)`` with the fields that differ from the defaults: either way it rebuilds
    ``config`` exactly. ``content`` / ``style`` are written as string literals (a sample name or a file name);
    a note becomes a comment on the line above the call (e.g. that an uploaded file has to be put beside the
    notebook).
    """
    notes = [f"# {note}" for note in (content_note, style_note) if note]
    if preset is None:
        head, built = ["import nst_edu", "from nst_edu import Config"], config.to_code()
    else:
        head, built = ["import nst_edu"], preset_code(preset, config)
    lines = [
        *head,
        "",
        f"config = {built}",
        *notes,
        f"result = nst_edu.run({content!r}, {style!r}, config, progress=False)",
        "",
    ]
    return "\n".join(lines)


def preset_code(name: str, config: Config) -> str:
    """``nst_edu.preset(name, field=value, …)``: the fields of ``config`` that differ from the preset."""
    base = PRESETS[name]
    changes = [
        f"    {f.name}={getattr(config, f.name)!r},"
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(base, f.name)
    ]
    return "\n".join(["nst_edu.preset(", f"    {name!r},", *changes, ")"])


def free_stem(out_dir: Path, stem: str, suffixes=(".png", ".gif")) -> str:
    """``stem-001``, ``stem-002``, … : the first name none of whose files (one per suffix) exists yet."""
    for i in range(1, 10_000):
        name = f"{stem}-{i:03d}"
        if not any((out_dir / f"{name}{s}").exists() for s in suffixes):
            return name
    raise FileExistsError(f"{out_dir} already holds 9999 results named {stem}-…; choose another folder")


def save_result(result: transfer.Result, out_dir: str | Path, name: str, what: str = "png") -> Path:
    """Write the result image (``what="png"``) or the animation of its frames (``what="gif"``) as
    ``out_dir/name.png`` or ``out_dir/name.gif``, atomically; the folder is created if needed."""
    if what not in ("png", "gif"):
        raise ValueError(f"what must be 'png' or 'gif', got {what!r}")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder; choose a folder for the results")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.{what}"
    if what == "png":
        images.save_image(result.image, path)
    else:
        animation.save_gif(result.frames, path)
    return path
