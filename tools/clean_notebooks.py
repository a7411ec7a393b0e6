"""Normalize committed notebooks so that their diffs show only what a person changed.

What it is: a small, idempotent cleaner for ``.ipynb`` files that CI also runs with ``--check``. It
  - drops volatile cell metadata (``execution`` timestamps, ``ExecuteTime``, ``collapsed``, ``scrolled``),
  - drops volatile notebook metadata (``widgets`` state, editor and extension keys) and trims
    ``language_info`` to its ``name`` (the Python patch version differs between machines),
  - renumbers ``execution_count`` 1, 2, 3 … over the executed code cells, in order (cells never run
    stay ``null``), and gives each ``execute_result`` the count of its cell,
  - removes the ``transient`` field of outputs (a display id that changes every run),
  - rewrites memory addresses ``0x7f3a9c2b1d60`` in text outputs to ``0x…``,
  - writes with ``nbformat`` (indent 1, sorted keys, trailing newline).
Output text is otherwise kept exactly as it is: what a notebook printed is part of the lesson.

What it is not: it does not execute notebooks, strip outputs or images, or compare outputs (nbval does
that, with ``notebooks/sanitize.cfg``).

Usage::

    python tools/clean_notebooks.py notebooks             # clean every notebook in place
    python tools/clean_notebooks.py --check notebooks     # change nothing; exit 1 if any would change
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

import nbformat

CELL_METADATA_DROP = ("execution", "ExecuteTime", "collapsed", "scrolled")
NOTEBOOK_METADATA_DROP = ("widgets", "vscode", "toc", "varInspector", "papermill", "colab", "interpreter")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
ADDRESS_REPLACEMENT = "0x…"


def _scrub_text(value):
    """Rewrite addresses in a text value (a str, or the list of lines nbformat sometimes keeps)."""
    if isinstance(value, str):
        return ADDRESS.sub(ADDRESS_REPLACEMENT, value)
    if isinstance(value, list):
        return [ADDRESS.sub(ADDRESS_REPLACEMENT, v) if isinstance(v, str) else v for v in value]
    return value


def _clean_output(output, execution_count) -> None:
    output.pop("transient", None)
    if output.get("output_type") == "stream":
        output["text"] = _scrub_text(output.get("text", ""))
    if output.get("output_type") == "error":
        output["evalue"] = _scrub_text(output.get("evalue", ""))
        output["traceback"] = _scrub_text(output.get("traceback", []))
    if output.get("output_type") == "execute_result":
        output["execution_count"] = execution_count
    data = output.get("data", {})
    for mime in list(data):
        # Only text: base64 images may contain "0x…"-looking runs by chance.
        if mime.startswith("text/"):
            data[mime] = _scrub_text(data[mime])


def clean(nb) -> None:
    """Normalize a notebook node in place (see the module docstring for what changes)."""
    for key in NOTEBOOK_METADATA_DROP:
        nb.metadata.pop(key, None)
    if "language_info" in nb.metadata:
        name = nb.metadata["language_info"].get("name")
        nb.metadata["language_info"] = {"name": name} if name else {}
        if not nb.metadata["language_info"]:
            del nb.metadata["language_info"]

    count = 0
    for cell in nb.cells:
        for key in CELL_METADATA_DROP:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is not None:
            count += 1
            cell["execution_count"] = count
        for output in cell.get("outputs", []):
            _clean_output(output, cell.get("execution_count"))


def cleaned_text(path: Path) -> tuple[str, str]:
    """Return (current text, cleaned text) of the notebook at ``path``."""
    original = path.read_text(encoding="utf-8")
    nb = nbformat.reads(original, as_version=4)
    clean(nb)
    text = nbformat.writes(nb)  # indent=1, sort_keys=True
    if not text.endswith("\n"):
        text += "\n"
    return original, text


def find_notebooks(paths) -> list[Path]:
    """Expand files and folders to notebook paths; folders give every ``*.ipynb`` outside checkpoints."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        elif p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder; pass notebooks or folders holding them.")
    return found


def _write_atomic(path: Path, text: str) -> None:
    # A temporary file in the same folder, then a rename: an interrupted run never leaves half a notebook.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # mkstemp makes 0600; keep the notebook's own mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="notebooks, or folders searched for *.ipynb")
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 and list the notebooks the cleaner would change",
    )
    args = parser.parse_args(argv)
    try:
        notebooks = find_notebooks(args.paths)
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    changed = []
    for path in notebooks:
        original, text = cleaned_text(path)
        if text != original:
            changed.append(path)
            if not args.check:
                _write_atomic(path, text)
    if args.check and changed:
        print(
            "These notebooks are not clean; run `python tools/clean_notebooks.py "
            + " ".join(args.paths)
            + "`:",
            file=sys.stderr,
        )
        for path in changed:
            print(f"  {path}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"cleaned {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
