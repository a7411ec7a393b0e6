"""The widget lab's headless side: one ``transfer.run`` in a worker thread, with Stop, and the lab's helpers.

What it is: ``LabRunner`` is everything the lab knows about its runs, without a widget: one run at a time
(claimed atomically, so two clicks cannot both start), which run is current, its frozen config, live history
and result, the name its files are saved under, and the sentences that report how it ended. It drives a
``BackgroundRun``, which starts ``transfer.run(content, style, config, callback=…, stop=event, progress=False)``
in a daemon thread, refuses a second start while one is running, stops through a ``threading.Event`` (the loop
checks it before every step, so Stop takes effect within one step and keeps the partial result), catches every
exception of the run and hands ``(result, error)`` to ``on_done``. ``Throttle`` decides when a view is due for
a redraw; ``LatestDrawer`` draws the newest state of a slow view in its own thread; ``RunArguments`` is what the
lab passes to ``transfer.run`` (the styles, the config, the masks ``MASK_CHOICES`` make) and ``code_for`` the
Python that reproduces it; ``png_bytes`` encodes an image; ``save_result`` writes the result PNG or GIF.

What it is not: no widgets (``widgets.py`` builds the controls and shows what this reports) and no
optimization (``transfer.run`` is the one loop; nothing here changes what it computes).
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from ..core import images, transfer, vgg
from ..core import masks as regions
from ..core.config import PRESETS, Config, check_styles
from ..output import animation

StepCallback = Callable[[transfer.StepInfo], None]
DoneCallback = Callable[["transfer.Result | None", "BaseException | None"], None]
# Errors whose message says it all; anything else also gets its traceback shown (the lab's "details" panel).
EXPECTED_ERRORS = (ValueError, transfer.NonFiniteCostError, MemoryError, vgg.WeightsError)


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
        masks: list | None = None,
    ) -> None:
        """Start a run of ``transfer.run(content, style, config, masks=masks)``; ``AlreadyRunningError`` if one is
        going (the check and the start are atomic). ``style`` is one source or a list, one mask per style."""
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
                args=(content, style, config, masks, self._stop, on_step, on_done),
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

    def _work(self, content, style, config, masks, stop, on_step, on_done) -> None:
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
            result = transfer.run(
                content, style, config, callback=callback, stop=stop, progress=False, masks=masks
            )
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


class LabRunner:
    """The lab's runs, headless: one at a time, the current one's config, history and result, its saved files.

    A run goes ``run_id = claim()`` (atomic; ``AlreadyRunningError`` with a sentence for the status line while
    a run is going) → ``start(…)`` (a ``BackgroundRun``; ``release(run_id)`` if the view gives up before) → the
    worker calls ``on_step`` / ``on_done`` → the view calls ``release(run_id)`` once it has shown the result (the
    runner also does when ``on_done`` returns or raises). ``running`` is True from ``claim`` until then, so a
    second Run is refused until the first result is on screen. A view drawing in another thread asks
    ``is_current(run_id)`` (the last started run) before it covers a newer run's output.
    """

    def __init__(self, on_view_error: Callable[[BaseException], None] | None = None):
        self._lock = threading.Lock()
        self._run = BackgroundRun(on_view_error=on_view_error)
        self._busy = False
        self._claims = 0  # ids handed out by claim()
        self._held = 0  # the claim that holds the lab (meaningful while _busy)
        self._current = 0  # the last started run
        self._history: transfer.History | None = None  # live, from the last step seen
        self._step = 0
        self._stem = "result"
        self._save_name: tuple[str, str] | None = None  # (folder, name) of the current result's files

    @property
    def running(self) -> bool:
        """True from ``claim`` until the view has shown the result (``release``)."""
        with self._lock:
            return self._busy

    @property
    def config(self) -> Config | None:
        """The frozen config of the current / last run."""
        return self._run.config

    @property
    def result(self) -> transfer.Result | None:
        """The last run's result (``None`` during a run and after a run that failed)."""
        return self._run.result

    @property
    def history(self) -> transfer.History | None:
        """The live history during a run, the last result's afterwards."""
        result = self._run.result
        if result is not None:
            return result.history
        with self._lock:
            return self._history

    @property
    def step(self) -> int:
        """The last step the current / last run reported."""
        with self._lock:
            return self._step

    def is_current(self, run_id: int) -> bool:
        """True for the last started run (a claim that never started does not replace it)."""
        with self._lock:
            return run_id == self._current

    def claim(self) -> int:
        """Reserve the lab for a new run and return its id; ``AlreadyRunningError`` while one is going."""
        with self._lock:
            if self._busy:
                total = self._run.config.total_steps if self._run.config is not None else 0
                raise AlreadyRunningError(
                    f"A run is already going (step {self._step}/{total}): press Stop first, or wait for it "
                    f"to finish. This Run was ignored."
                )
            self._claims += 1
            self._busy, self._held = True, self._claims
            return self._held

    def release(self, run_id: int) -> None:
        """The view is done with run ``run_id``: the lab takes a new run (a newer claim is left alone)."""
        with self._lock:
            if run_id == self._held:
                self._busy = False

    def start(
        self,
        content,
        style,
        config: Config,
        names: tuple[str, ...],
        on_step: StepCallback,
        on_done: DoneCallback,
        masks: list | None = None,
    ) -> None:
        """Start the claimed run of ``config`` on ``content`` and ``style`` (one source or a list, with one mask
        per style in ``masks``); ``names`` (of the content and the styles, for the saved files) make the file
        stem ``content-style`` (``content-style-style2``). An exception here releases the claim.
        """
        with self._lock:
            if not self._busy:
                raise RuntimeError("claim() the run before starting it")
            run_id = self._current = self._held
            self._history, self._step = None, 0
            self._stem, self._save_name = "-".join(Path(name).stem for name in names), None

        def step(info: transfer.StepInfo) -> None:
            with self._lock:
                self._history, self._step = info.history, info.step
            on_step(info)

        def done(result, error) -> None:
            try:
                on_done(result, error)
            finally:  # whatever the view did, the lab must be usable again
                self.release(run_id)

        try:
            # The last run's worker may still be in its final lines (after the view released it): let it end.
            self._run.wait(timeout=10)
            self._run.start(content, style, config, on_step=step, on_done=done, masks=masks)
        except BaseException:
            self.release(run_id)
            raise

    def stop(self) -> bool:
        """Ask the run to stop after its current step; ``False`` when nothing is running."""
        return self._run.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the worker (which returns after ``on_done``); ``True`` when no run is going any more."""
        return self._run.wait(timeout)

    def save(self, what: str, folder: str) -> Path:
        """Write the result's PNG or GIF (``what``) into ``folder``. Both files of one result share a fresh
        name, ``content-style-NNN``; a new result, or another folder, gets the next free one."""
        result = self._run.result
        if result is None:
            raise ValueError("there is no result to save yet; press Run first")
        with self._lock:
            if self._save_name is None or self._save_name[0] != folder:
                out = Path(folder).expanduser()
                name = free_stem(out, self._stem) if out.is_dir() else f"{self._stem}-001"
                self._save_name = (folder, name)
            name = self._save_name[1]
        return save_result(result, folder, name, what)

    def done_message(self, error: BaseException | None) -> tuple[str, str]:
        """How the last run ended, as (sentence, level) for the status line; level is ok, warn or error."""
        result, config, steps_done = self._run.result, self._run.config, self.step
        if isinstance(error, transfer.NonFiniteCostError):
            message = (
                f"The run stopped: {error}. The last good image is kept; lower the learning rate or β "
                f"and run again."
            )
            return message, "error"
        if isinstance(error, MemoryError):
            return f"Out of memory at {config.size} px; choose a smaller size.", "error"
        if error is not None:
            kind = "" if isinstance(error, ValueError) else f"{type(error).__name__}: "
            return f"The run failed: {kind}{error}", "error"
        # "≈": the last digits of J depend on the CPU (the lessons' sanitizer masks what follows it).
        J = f" J ≈ {result.history.rows[-1]['total']:.3g}." if result.history.rows else ""
        if result.stopped:
            message = (
                f"Stopped after step {steps_done} of {config.total_steps} in {result.seconds:.1f} s; "
                f"the partial result is kept.{J}"
            )
            return message, "warn"
        return f"Done: {config.total_steps} steps in {result.seconds:.1f} s.{J}", "ok"


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


class MaskChoice(NamedTuple):
    """Two regions the lab draws itself, ``function(hw, **options)`` -> [region of style 1, region of style 2]."""

    label: str  # what the lab's dropdown shows
    function: Callable  # masks.split_mask or masks.shape_mask
    options: dict
    where: str  # which style paints where, a comment in "show as code": {0}, {1} are the styles' names

    def make(self, hw: tuple[int, int]) -> list[torch.Tensor]:
        """The two masks, (H, W) each, at ``hw``."""
        return self.function(hw, **self.options)

    def code(self, hw: tuple[int, int]) -> str:
        """The call that makes them, e.g. ``masks.split_mask((106, 160))``."""
        options = "".join(f", {name}={value!r}" for name, value in self.options.items())
        return f"masks.{self.function.__name__}({hw!r}{options})"


# The regions the lab offers with two styles (masks.py draws them; with "none" each style covers all of G).
MASK_CHOICES: dict[str, MaskChoice] = {
    "split": MaskChoice(
        "sky / ground", regions.split_mask, {}, "{0} above the middle line (sky), {1} below (ground)"
    ),
    "ellipse": MaskChoice(
        "ellipse / around",
        regions.shape_mask,
        {"shape": "ellipse"},
        "{0} inside the ellipse, {1} around it",
    ),
}


@dataclass(frozen=True)
class RunArguments:
    """What the lab passes to ``transfer.run(content, style, config, masks=masks)``, and how to write it as code.

    ``style`` is one source, or a list of two; ``masks`` one (H, W) mask per style (``MASK_CHOICES[mask]`` drawn
    at ``hw``, C's size at ``config.size``, as ``run`` loads it) or None. ``names``: the content's, then each
    style's (a sample name or an uploaded file's name); ``notes``: comments for the code (an uploaded file).
    """

    content: object
    style: object
    config: Config
    masks: list | None
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()
    mask: str = ""  # a MASK_CHOICES key, "" without masks
    hw: tuple[int, int] | None = None

    @classmethod
    def build(cls, content, styles, config: Config, names, notes=(), mask: str = "") -> RunArguments:
        """The arguments of a run of ``styles`` (one or two sources) with the regions ``mask`` ("": none).

        Refuses (ValueError, the sentence ``transfer.run`` would say) styles, weights and masks that do not go
        together, e.g. masks with ``style_mix`` other than "sum"."""
        check_styles(config, len(styles), 2 if mask else None)
        hw = made = None
        if mask:
            _, _, H, W = images.load_image(content, size=config.size).shape  # C as transfer.run loads it
            hw = (int(H), int(W))
            made = MASK_CHOICES[mask].make(hw)
        style = styles[0] if len(styles) == 1 else list(styles)
        return cls(content, style, config, made, tuple(names), tuple(n for n in notes if n), mask, hw)

    def code(self, preset: str | None = None) -> str:
        """``code_for`` of these arguments: Python that reproduces the run exactly."""
        styles = list(self.names[1:])
        mask_code = where = ""
        if self.mask:
            choice = MASK_CHOICES[self.mask]
            mask_code = choice.code(self.hw)
            where = f"the regions at C's size, {self.hw[0]}×{self.hw[1]} px: " + choice.where.format(
                *map(repr, styles)
            )
        return code_for(
            self.names[0],
            styles[0] if len(styles) == 1 else styles,
            self.config,
            *self.notes,
            preset=preset,
            masks=mask_code,
            masks_note=where,
        )


def code_for(
    content: str,
    style: str | list[str],
    config: Config,
    *notes: str,
    preset: str | None = None,
    masks: str = "",
    masks_note: str = "",
) -> str:
    """Python source that reproduces the run: the imports, the config and the ``nst_edu.run`` call.

    With ``preset`` the config is written as ``nst_edu.preset(preset, …)`` with the fields that differ from
    that preset, else as ``Config(…)`` with the fields that differ from the defaults: either way it rebuilds
    ``config`` exactly. ``content`` / ``style`` (a name, or a list of names for several styles) are written as
    string literals (a sample name or a file name); each note becomes a comment above the call (e.g. that an
    uploaded file has to be put beside the notebook). ``masks``, the code of a call of ``nst_edu.core.masks``
    (e.g. ``masks.split_mask((106, 160))``), becomes ``regions = …`` (``masks_note`` the comment above it),
    passed as ``masks=regions``.
    """
    comments = [f"# {note}" for note in notes if note]
    if preset is None:
        head, built = ["import nst_edu", "from nst_edu import Config"], config.to_code()
    else:
        head, built = ["import nst_edu"], preset_code(preset, config)
    if masks:
        head.append("from nst_edu.core import masks")
        if masks_note:
            comments.append(f"# {masks_note}")
        comments.append(f"regions = {masks}")
    call = f"nst_edu.run({content!r}, {style!r}, config{', masks=regions' if masks else ''}, progress=False)"
    lines = [*head, "", f"config = {built}", *comments, f"result = {call}", ""]
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
