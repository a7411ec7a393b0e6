"""``nst-edu sweep`` and ``nst-edu batch``: many runs from the command line, on Dask (``sweep.py``).

What it is: the two subcommands' options, their one-sentence refusals (exit code 2, before any worker starts:
an unknown setting, a value of the wrong type, an empty product, a folder without images, an unreachable
scheduler, a folder another sweep or run is using), a progress bar over runs, the dashboard's address, and
the exit codes: 0 every run finished, 1 some run failed on its own (its row says why), 128 + the signal's
number after Ctrl-C (130), SIGTERM (143) or SIGHUP (129), which keep what finished and say how to continue.

``nst-edu sweep --content chelsea --style swirls --vary beta=1e-4,1e-3 --vary content_layer=relu4_2,relu5_2
--out grid/`` runs the product of the contents, the styles and the ``--vary`` values; ``nst-edu batch
--content-dir photos/ --style painting.jpg --out out/`` one run per photo. ``cli.main`` hands them here.

What it is not: no scheduling (Dask), no run logic (``sweep_task.py``). It does not import ``cli`` (which
imports it): the single-run command keeps its own options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import signal
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_SOME_FAILED, EXIT_USER_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


class UserError(Exception):
    """A mistake in the command line: one sentence on stderr, exit code 2."""


def build_parser(command: str) -> argparse.ArgumentParser:
    from .core.config import PRESETS

    p = argparse.ArgumentParser(
        prog=f"nst-edu {command}",
        description=(
            "Many style transfers at once, each a Dask task writing OUT/<run>/ (result.png, history.csv, "
            "run.json, …) and OUT/sweep.csv, one row per run. "
            + (
                "Runs every combination of the contents, the styles and the --vary values."
                if command == "sweep"
                else "Runs one transfer per image in --content-dir."
            )
        ),
        epilog="Run the same command again to continue: finished runs are skipped, unfinished ones resume "
        "from their checkpoints. Exit codes: 0 done, 1 some run failed (sweep.csv says why), 2 bad input, "
        "130 Ctrl-C, 143 SIGTERM, 129 SIGHUP.",
    )
    if command == "sweep":
        p.add_argument(
            "--content",
            action="append",
            required=True,
            help="content image: a path, folder, glob ('photos/*.jpg'), URL or sample name; repeatable",
        )
        p.add_argument(
            "--vary",
            action="append",
            default=[],
            metavar="KEY=V1,V2,…",
            help="a setting of Config and its values, e.g. beta=1e-4,1e-3; repeat it for a grid",
        )
    else:
        p.add_argument("--content-dir", required=True, metavar="DIR", help="a folder of content images")
    p.add_argument(
        "--style", action="append", required=True, help="style image (path, folder, glob, URL, sample)"
    )
    p.add_argument("--out", required=True, help="the sweep's folder: one sub-folder per run, and sweep.csv")
    p.add_argument(
        "--preset", choices=sorted(PRESETS), default="fast", help="the base recipe (default: fast)"
    )
    p.add_argument("--size", type=int, help="longer side of each result in pixels")
    p.add_argument("--steps", type=int, help="optimizer steps of each run")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting shared by every run"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="worker processes on this machine (default: cores)"
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786"
    )
    p.add_argument("--threads", type=int, default=1, metavar="T", help="torch threads per run (default 1)")
    p.add_argument(
        "--checkpoint-every", type=int, default=10, metavar="N", help="each run's checkpoint interval (steps)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def parse_value(key: str, text: str, base, flag: str):
    """``text`` as the Config field ``key``'s type (that of ``base``'s value), checked by Config itself."""
    fields = [f.name for f in dataclasses.fields(base)]
    if key not in fields:
        raise UserError(f"{flag} {key}: {key!r} is not a setting; the settings are {', '.join(fields)}")
    # A field a preset leaves as None (beta: chosen from the style strength) has the type of its default.
    kind = type(getattr(base, key) if getattr(base, key) is not None else getattr(type(base)(), key))
    words = {bool: "true or false", int: "a whole number", float: "a number", str: "a name"}
    if kind not in words:
        raise UserError(f"{flag} {key}: {key} holds a {kind.__name__}; set it from Python with nst_edu.sweep")
    try:
        value = _typed(kind, text)
    except ValueError:
        raise UserError(f"{flag} {key}={text}: {text!r} is not {words[kind]}") from None
    try:
        base.replace(**{key: value})
    except (ValueError, TypeError) as exc:
        raise UserError(f"{flag} {key}={text}: {exc}") from None
    return value


def _typed(kind: type, text: str):
    if kind is bool:
        if text.lower() not in TRUE + FALSE:
            raise ValueError(text)
        return text.lower() in TRUE
    return kind(text)


def _pairs(specs: list[str], flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` texts as (key, value); dashes in a key become underscores (``content-layer``)."""
    pairs = []
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip():
            example = "beta=1e-4,1e-3" if flag == "--vary" else "beta=1e-4"
            raise UserError(f"{flag} {spec} is not KEY=VALUE; write e.g. {flag} {example}")
        pairs.append((key.strip().replace("-", "_"), value.strip()))
    return pairs


def base_config(args):
    """The preset with --size, --steps and every --set applied."""
    from .core.config import preset

    config = preset(args.preset)
    given = [(f"--{k}", k, str(getattr(args, k))) for k in ("size", "steps") if getattr(args, k) is not None]
    for flag, key, text in given + [("--set", k, v) for k, v in _pairs(args.set, "--set")]:
        config = config.replace(**{key: parse_value(key, text, config, flag)})
    return config


def vary_spec(args, base) -> dict | None:
    """``--vary`` as {field: [values]}: each value parsed and checked alone; an empty list is refused."""
    if not getattr(args, "vary", None):
        return None
    vary = {}
    for key, text in _pairs(args.vary, "--vary"):
        if key in vary:
            raise UserError(f"--vary {key} is given twice; give all its values in one --vary {key}=V1,V2")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not values:
            raise UserError(
                f"--vary {key}= gives no values, so the sweep would have no runs; give e.g. {key}=1,2"
            )
        vary[key] = [parse_value(key, v, base, "--vary") for v in values]
    return vary


def main(argv: list[str]) -> int:
    """``nst-edu sweep …`` / ``nst-edu batch …`` (``argv[0]`` names the subcommand)."""
    command, rest = argv[0], argv[1:]
    state = {"signal": None}
    previous = _install_signal_handlers(state)
    try:
        return _main(command, build_parser(command).parse_args(rest), state)
    except UserError as exc:
        _say(command, _sentence(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _say(command, f"{_how(state['signal'])} before any run started; nothing was run.")
        return 128 + int(state["signal"] or signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(command: str, args, state: dict) -> int:
    from . import sweep

    if args.threads < 1 or args.checkpoint_every < 1 or (args.workers is not None and args.workers < 1):
        raise UserError("--threads, --checkpoint-every and --workers must be whole numbers ≥ 1")
    base = base_config(args)
    contents = args.content if command == "sweep" else [args.content_dir]
    if command == "batch" and not Path(args.content_dir).expanduser().is_dir():
        raise UserError(f"--content-dir {args.content_dir} is not a folder; give the folder of your photos")
    try:
        the_plan = sweep.plan(contents, args.style, base, vary=vary_spec(args, base), out=args.out)
        lock = sweep.lock_folder(the_plan.out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    try:
        table = _run(command, the_plan, args)
    finally:
        lock.release()
    return _report(command, table, state)


def _run(command: str, the_plan, args):
    from . import sweep

    logging.getLogger("distributed").setLevel(logging.ERROR)  # a restarted worker is Dask's business
    if not sweep.pending(the_plan)[1]:
        return sweep.execute(the_plan, None, progress=False)
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(
                sweep.connect(args.scheduler, args.workers, silence_logs=logging.ERROR)
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
        _say(command, sweep.announce(the_plan, client))
        return sweep.execute(the_plan, client, args.threads, args.checkpoint_every, not args.quiet)


def _report(command: str, table, state: dict) -> int:
    """The table on stdout, failures and the way to continue on stderr; the exit code."""
    for _, r in table.iterrows():
        outcome = f"  J={r['J']:.4g}  {r['seconds']:.1f} s" if r["status"] != "failed" else ""
        print(f"{r['status']:11s} {r['run']}{outcome}")
    print(f"table: {Path(table['folder'].iloc[0]).parent / 'sweep.csv'}")
    for _, r in table[table["status"] == "failed"].iterrows():
        _say(command, f"{r['run']} failed: {r['error']}")
    if table.attrs.get("stopped"):
        from .sweep import continue_hint

        _say(command, f"{_how(state['signal'])}: {continue_hint(table)[len('interrupted: ') :]}.")
        return 128 + int(state["signal"] or signal.SIGINT)
    return EXIT_SOME_FAILED if (table["status"] == "failed").any() else EXIT_OK


def _install_signal_handlers(state: dict) -> dict:
    """SIGTERM and SIGHUP stop the sweep as Ctrl-C does (a KeyboardInterrupt); returns the handlers replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum, frame):
        state["signal"] = state["signal"] or signum
        raise KeyboardInterrupt

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup: keep ignoring it
            previous[signum] = signal.signal(signum, on_signal)
    return previous


def _how(signum) -> str:
    return (
        "interrupted" if signum in (None, signal.SIGINT) else f"interrupted by {signal.Signals(signum).name}"
    )


def _sentence(exc) -> str:
    text = str(exc).strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _say(command: str, text: str) -> None:
    print(f"nst-edu {command}: {text}", file=sys.stderr, flush=True)
