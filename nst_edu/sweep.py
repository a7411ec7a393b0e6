"""Many runs at once: settings × contents × styles, each run one Dask task that writes its own folder.

What it is: ``sweep(contents, styles, config, vary={"beta": [...], ...})`` expands the Cartesian product of
the inputs and of the Config changes (or an explicit list, ``runs=[{...}, ...]``) into runs, each named from
its inputs and settings (``chelsea__swirls__beta=0.001__1a2b3c``), and runs each as one task on Dask: a
``LocalCluster`` it starts and stops (one worker process per core, one torch thread each), or the ``Client``
or scheduler address it is given. A task is an ordinary ``transfer.run`` that writes result.png,
history.csv, run.json, … into ``<out>/<name>/`` and a checkpoint as it goes. ``sweep`` returns a pandas
DataFrame, one row per run (the varied values, final costs, seconds, worker, folder), also written to
``<out>/sweep.csv``.

Nothing lost, nothing done twice: a run whose run.json holds its config and inputs is skipped; one with a
checkpoint resumes from it, also when Dask re-runs a task whose worker died; a run that fails on its own (a
NaN cost, an unreadable image) is a row with its one-sentence error while the others go on; Ctrl-C stops the
tasks, keeps what finished and says how to continue; ``<out>`` is locked as a single run's folder is.
Inputs travel once: image files are read here and scattered (each worker fetches each file once), samples
are drawn on the worker by name; each worker process builds VGG-19 once (``transfer.build_model`` caches it).

What it is not: no scheduler, pool or retry loop (Dask does those), no optimization (``transfer.run``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import itertools
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .core import checkpoint, images, samples
from .core.config import Config, as_config
from .output import fileio
from .sweep_task import Task, finished_row, row, run_task, sentence

__all__ = [
    "Plan",
    "Source",
    "plan",
    "run_name",
    "connect",
    "execute",
    "sweep",
    "continue_hint",
    "cores",
    "COLUMNS",
]

TABLE_FILE = "sweep.csv"
CONNECT_TIMEOUT_S = 5  # an unreachable scheduler is reported after this long, before any task is sent
STOP_GRACE_S = 20  # after Ctrl-C: how long running tasks get to stop after their current step and save
# The table's columns around the varied settings: what ran, how it ended, where its files are.
COLUMNS = ("run", "content", "style")
RESULT_COLUMNS = (
    "status",
    "error",
    "steps_done",
    "J_content",
    "J_style",
    "J_tv",
    "J",
    "seconds",
    "resumed_from",
    "worker",
    "folder",
)


@dataclass(frozen=True)
class Source:
    """One input image: ``label`` names it in folder names; ``data`` (scattered to the workers) holds a
    file's bytes or a URL's image, None for a sample (drawn on the worker by name); ``error``: why a file
    found in a folder or by a glob is not an image (its runs become rows with this sentence)."""

    label: str
    given: str
    data: object = None  # bytes of a file, a (1, 3, H, W) tensor of a URL's image, None for a sample
    sha256: str | None = None
    error: str | None = None

    def identity(self) -> dict:
        """What run.json records of this input: its path or sample name and, for a file, its bytes' hash."""
        return {"source": self.given, "sha256": self.sha256} if self.sha256 else {"source": self.given}


@dataclass
class Plan:
    """What ``plan`` checked: the inputs, the runs, and the sweep's folder."""

    contents: list[Source]
    styles: list[Source]
    tasks: list[Task]
    varied: list[str]
    out: Path


# --- the plan: inputs, settings and names, all checked before any worker starts ---------------------------


def _sources(items, what: str) -> list[Source]:
    """Every image ``items`` names (sample names, files, folders, globs, URLs), or ValueError in one sentence."""
    items = [items] if isinstance(items, (str, os.PathLike)) else list(items or [])
    if not items:
        raise ValueError(f"there is no {what} image; give at least one path, folder, glob or sample name")
    found = []
    for item in map(str, items):
        found += _expand(item, what)
    return found


def _expand(item: str, what: str) -> list[Source]:
    """A folder's files (not hidden) or a glob's matches, sorted; else the one file, URL or sample."""
    path = Path(item).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return _members(files, f"the {what} folder {item!r}")
    if glob.has_magic(item) and not os.path.lexists(path):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        return _members(files, f"the {what} pattern {item!r}")
    return [_load(item)]  # a file, URL or sample name: a bad one is the user's mistake, raised here


def _members(files: list[Path], where: str) -> list[Source]:
    """The images among ``files``; the others become sources with an error, unless none is an image."""
    if not files:
        raise ValueError(
            f"{where} {'holds' if 'folder' in where else 'matches'} no file; give one with images"
        )
    found = []
    for path in files:
        try:
            found.append(_load(str(path.resolve())))
        except images.ImageError as exc:
            found.append(Source(_label(path.stem), str(path.resolve()), error=sentence(exc)))
    if all(s.error for s in found):
        names = ", ".join(p.name for p in files[:3]) + (", …" if len(files) > 3 else "")
        are = "is not an image" if len(files) == 1 else "are not images"
        raise ValueError(f"{where} holds no images ({names} {are}); give one with images")
    return found


def _load(item: str) -> Source:
    """A sample stays a name; a file or URL is read once here (checked like any image) and kept as bytes."""
    if samples.is_sample(item) and not os.path.lexists(item):
        return Source(item, item)
    image = images.load_image(item)  # the same sentence as a single run for a missing file, a non-image, …
    label = _label(Path(item.split("?")[0]).stem)
    if item.lower().startswith(("http://", "https://")):  # downloaded once, here: its pixels travel
        return Source(label, item, image, checkpoint.fingerprint(image))
    path = Path(item).expanduser().resolve()
    data = path.read_bytes()  # a file travels as its bytes (smaller than its pixels), decoded on the worker
    return Source(label, str(path), data, hashlib.sha256(data).hexdigest())


def _label(text: str) -> str:
    """``text`` as a piece of a folder name: letters, digits, '.', '=', '-', at most 40 characters."""
    kept = "".join(ch if ch.isalnum() or ch in ".=-+" else "-" for ch in text).strip("-.")
    return kept[:40] or "image"


def _value_label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else _label(str(value))


def _settings(base: Config, vary, runs) -> tuple[list[dict], list[str]]:
    """The Config changes of each run (the product of ``vary``, or ``runs``) and the names of the varied fields."""
    if vary is not None and runs is not None:
        raise ValueError("give either vary (a grid of values) or runs (a list of changes), not both")
    if runs is not None:
        listed = _listed(runs, "runs")
        bad = next((i for i, r in enumerate(listed) if not isinstance(r, Mapping)), None)
        if bad is not None:
            raise ValueError(f"runs[{bad}] must be a dict of Config changes such as {{'beta': 1e-3}}")
        changes = [dict(r) for r in listed]
        keys = list(dict.fromkeys(k for r in changes for k in r))
    else:
        vary = {} if vary is None else vary
        if not isinstance(vary, Mapping):
            raise ValueError(f"vary must be a dict such as {{'beta': [1e-4, 1e-3]}}, got {vary!r:.60}")
        keys = list(vary)
        values = [_listed(vary[k], f"vary[{k!r}]") for k in keys]
        changes = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
    fields = [f.name for f in dataclasses.fields(Config)]
    for key in keys:
        if key not in fields:
            raise ValueError(f"{key!r} is not a setting of Config; the settings are {', '.join(fields)}")
    return changes, keys


def _listed(values, where: str) -> list:
    """``values`` as a list of at least one value, each once, or ValueError saying what is wrong."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise ValueError(f"{where} must be a list of values such as [1e-4, 1e-3], got {values!r:.60}")
    if not values:
        raise ValueError(f"{where} is empty, so the sweep would have no runs; give at least one value")
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ValueError(f"{where} gives {value!r} twice; give each value once")
    return list(values)


def _config(base: Config, change: dict) -> Config:
    try:
        return base.replace(**change)
    except (ValueError, TypeError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in change.items())
        raise ValueError(f"the run with {shown} has a bad setting: {exc}") from None


def run_name(content: Source, style: Source, change: dict, config: Config) -> str:
    """``<content>__<style>__<key>=<value>…__<hash>``: readable, and the same for the same inputs and config.

    The hash covers the inputs and every setting that differs from ``Config()``'s (so a field added to
    Config later, with its default, does not rename old runs).
    """
    default = Config()
    settings = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(Config)
        if getattr(config, f.name) != getattr(default, f.name)
    }
    key = {"content": content.identity(), "style": style.identity(), "config": settings}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:6]
    varied = "__".join(f"{_label(k)}={_value_label(v)}" for k, v in change.items())
    return "__".join(part for part in (content.label, style.label, varied, digest) if part)


def plan(contents, styles, config=None, vary=None, runs=None, out="sweep-out") -> Plan:
    """Check everything and name every run, before any worker starts; ValueError (one sentence) otherwise.

    ``contents`` and ``styles``: a sample name, path, URL, folder (its image files) or glob, or a list of
    them. ``vary``: {field: [values]}, its Cartesian product; ``runs``: [{field: value}, …], as listed.
    """
    base = as_config(config)
    changes, varied = _settings(base, vary, runs)
    configs = [_config(base, change) for change in changes]
    content_list, style_list = _sources(contents, "content"), _sources(styles, "style")
    root = Path(out).expanduser()
    tasks = []
    for (i, C), (j, S), (change, cfg) in itertools.product(
        enumerate(content_list), enumerate(style_list), zip(changes, configs)
    ):
        name = run_name(C, S, change, cfg)
        inputs = {"content": C.identity(), "styles": [S.identity()]}
        tasks.append(Task(name, str((root / name).resolve()), i, j, cfg, dict(change), inputs))
    names = [t.name for t in tasks]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice:  # the same image given twice (by two paths): its runs would share a folder
        raise ValueError(f"two runs would both be {twice!r}: an image is given twice; give each image once")
    return Plan(content_list, style_list, tasks, varied, root)


# --- the sweep, from this process: a cluster, the tasks, the table ------------------------------------------


def cores() -> int:
    """The cores this process may use (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def connect(client=None, workers: int | None = None, **cluster_options):
    """A Dask ``Client``: ``client`` itself, one connected to the scheduler at the address ``client``, or one
    on a ``LocalCluster`` started here (``workers`` processes, default one per core, one thread each) and
    stopped on leaving. An unreachable scheduler is a ValueError in one sentence."""
    from distributed import Client, LocalCluster

    if isinstance(client, Client):
        yield client
        return
    if client is not None:
        try:
            remote = Client(str(client), timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ValueError(
                f"cannot reach the Dask scheduler at {client} ({str(exc).splitlines()[0][:100]}); check the "
                f"address, start one with `dask scheduler`, or leave the address out to use this machine"
            ) from None
        with remote:
            yield remote
        return
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number ≥ 1, got {workers!r}")
    options = {"n_workers": workers or cores(), "threads_per_worker": 1, "processes": True} | cluster_options
    with LocalCluster(**options) as cluster, Client(cluster) as local:
        yield local


def lock_folder(out: Path) -> fileio.FolderLock:
    """The sweep folder's lock (a second sweep or run into it is refused), or ValueError in one sentence."""
    try:
        return fileio.FolderLock(out).acquire()
    except fileio.FolderBusyError as exc:
        raise ValueError(
            f"{out} is in use by another sweep or run (pid {exc.pid}); wait for it to finish or choose "
            f"another out"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot write to {out} ({exc.strerror or exc}); choose another folder") from None


def _outcome(future, task: Task) -> dict:
    """A finished future's row; a task that raised, or whose workers kept dying, is a failed row."""
    if future.status == "finished":
        return future.result()
    exc = future.exception()
    if type(exc).__name__ == "KilledWorker":
        exc = "every worker that ran it died (out of memory?); run it alone to see why"
    error = sentence(exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")
    return row(task, "failed", error=error, worker="")


def _submit(client, the_plan: Plan, todo: list[Task], threads: int, checkpoint_every: int, stop: str):
    """One task per run; each input image is scattered once (a worker fetches it once, however many runs use it)."""
    data = {}
    for kind, sources in (("content", the_plan.contents), ("style", the_plan.styles)):
        used = sorted(i for i in {getattr(t, kind) for t in todo} if sources[i].data is not None)
        data[kind] = dict(zip(used, client.scatter([sources[i].data for i in used]))) if used else {}
    return {
        client.submit(
            run_task,
            task,
            data["content"].get(task.content, the_plan.contents[task.content].given),
            data["style"].get(task.style, the_plan.styles[task.style].given),
            threads,
            checkpoint_every,
            stop,
            key=f"{task.name}-{stop[-8:]}",
            pure=False,
        ): task
        for task in todo
    }


def _collect(client, futures: dict, rows: dict, bar, stop: str) -> str | None:
    """Rows as the tasks finish; on Ctrl-C, ask the running tasks to stop after their step, keep what they
    save within ``STOP_GRACE_S`` and cancel the rest. Returns ``"interrupt"`` or None."""
    from distributed import Event, as_completed, wait

    try:
        for future in as_completed(futures):
            rows[futures[future].name] = _outcome(future, futures[future])
            bar.update(1)
        return None
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            Event(stop, client=client).set()
        with contextlib.suppress(KeyboardInterrupt, TimeoutError):  # a second Ctrl-C: stop waiting
            wait([f for f in futures if futures[f].name not in rows], timeout=STOP_GRACE_S)
        for future, task in futures.items():
            if task.name not in rows and future.status in ("finished", "error"):
                rows[task.name] = _outcome(future, task)
        client.cancel(list(futures))
        return "interrupt"


def pending(the_plan: Plan) -> tuple[dict, list[Task]]:
    """The rows of the runs that need no task (finished before, or an input that is not an image) by name,
    and the tasks still to run."""
    rows, todo = {}, []
    for task in the_plan.tasks:
        bad = the_plan.contents[task.content].error or the_plan.styles[task.style].error
        done = row(task, "failed", error=bad, worker="") if bad else finished_row(task)
        if done is None:
            todo.append(task)
        else:
            rows[task.name] = done
    return rows, todo


def execute(the_plan: Plan, client, threads: int = 1, checkpoint_every: int = 10, progress: bool = True):
    """Run the plan's unfinished tasks on ``client`` (a ``distributed.Client``; None will do when every run
    is finished) and return the table (a DataFrame), also written to ``<out>/sweep.csv``.

    ``table.attrs["stopped"]`` is ``"interrupt"`` after Ctrl-C (the unfinished runs' status is
    ``"interrupted"``), else None.
    """
    from tqdm.auto import tqdm

    rows, todo = pending(the_plan)
    stopped, total = None, len(the_plan.tasks)
    if todo:
        stop = f"nst-edu-stop-{uuid.uuid4().hex}"
        futures = _submit(client, the_plan, todo, threads, checkpoint_every, stop)
        with tqdm(
            total=total, initial=total - len(todo), unit="run", desc="sweep", disable=not progress
        ) as bar:
            stopped = _collect(client, futures, rows, bar, stop)
    return _table(the_plan, rows, stopped)


def _table(the_plan: Plan, rows: dict, stopped: str | None):
    """The rows in the plan's order (an unfinished run: "interrupted"), written atomically to sweep.csv."""
    import pandas as pd

    unfinished = "Interrupted before it finished."
    table = pd.DataFrame(
        [rows.get(t.name) or row(t, "interrupted", error=unfinished, worker="") for t in the_plan.tasks]
    )
    table = table[[*COLUMNS, *the_plan.varied, *RESULT_COLUMNS]]
    with fileio.atomic_path(the_plan.out / TABLE_FILE) as tmp:
        table.to_csv(tmp, index=False)
    table.attrs["stopped"] = stopped
    return table


def sweep(
    contents,
    styles,
    config=None,
    vary: Mapping[str, Sequence] | None = None,
    runs: Sequence[Mapping] | None = None,
    out="sweep-out",
    client=None,
    workers: int | None = None,
    threads: int = 1,
    checkpoint_every: int = 10,
    progress: bool = True,
    **cluster_options,
):
    """Every combination of ``contents`` × ``styles`` × the changes of ``vary`` (or ``runs``), one Dask task
    each, into ``out/<run name>/``; returns the table, one row per run (a pandas DataFrame).

    ``config``: the base Config or preset name (default ``Config()``). ``client``: None (a ``LocalCluster`` of
    ``workers`` processes, default one per core, started and stopped here; ``cluster_options`` go to it),
    a ``distributed.Client``, or a scheduler's address. ``threads``: torch threads per run. Bad input is a
    ValueError in one sentence before any worker starts; a second sweep into ``out`` is refused. With every
    run finished already, no cluster is started.
    """
    the_plan = plan(contents, styles, config, vary, runs, out)
    lock = lock_folder(the_plan.out)
    try:
        if not pending(the_plan)[1]:
            return execute(the_plan, None, progress=False)
        with connect(client, workers, **cluster_options) as dask_client:
            if progress:
                print(f"nst-edu sweep: {announce(the_plan, dask_client)}", file=sys.stderr)
            table = execute(the_plan, dask_client, threads, checkpoint_every, progress)
    finally:
        lock.release()
    if table.attrs["stopped"] and progress:
        print(f"nst-edu sweep: {continue_hint(table)}.", file=sys.stderr)
    return table


def announce(the_plan: Plan, client) -> str:
    """What is about to run, where, and the dashboard's address: one line."""
    todo = len(pending(the_plan)[1])
    n = len(client.scheduler_info().get("workers", {}))
    return (
        f"{len(the_plan.tasks)} runs, {todo} to do, on {n} worker{'s' * (n != 1)}; "
        f"dashboard {client.dashboard_link}"
    )


def continue_hint(table) -> str:
    """One sentence after an interruption: what finished, and that the same sweep again continues it."""
    done = int(table["status"].isin(["done", "resumed", "skipped", "failed"]).sum())
    return (
        f"interrupted: {done} of {len(table)} runs are finished and kept; run the same sweep into the same "
        f"folder to continue (finished runs are skipped, the others resume from their checkpoints)"
    )
