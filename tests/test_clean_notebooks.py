"""Tests of tools/clean_notebooks.py on tiny notebooks built in tmp_path."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "clean_notebooks", Path(__file__).resolve().parents[1] / "tools" / "clean_notebooks.py"
)
cn = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cn)


def _dirty_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.12.3", "mimetype": "text/x-python"},
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
    }
    md = nbformat.v4.new_markdown_cell("# Title")
    c1 = nbformat.v4.new_code_cell("x = object()\nx", execution_count=7)
    c1.metadata = {
        "execution": {"iopub.execute_input": "2024-05-01T10:00:00.000Z"},
        "collapsed": False,
        "scrolled": True,
        "tags": ["keep-me"],
    }
    c1.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="took 1.2 s at 0x7f3a9c2b1d60\n"),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": "<object object at 0x7ffe12345678>"}, execution_count=7
        ),
    ]
    c1.outputs[1]["transient"] = {"display_id": "abc"}
    c2 = nbformat.v4.new_code_cell("print('short 0x1f')", execution_count=9)
    c2.outputs = [nbformat.v4.new_output("stream", name="stdout", text="short 0x1f\n")]
    c3 = nbformat.v4.new_code_cell("never run")
    nb.cells = [md, c1, c2, c3]
    return nb


@pytest.fixture
def dirty(tmp_path) -> Path:
    path = tmp_path / "nb.ipynb"
    # Written the way Jupyter does (indent 1) but dirty; the cleaner must change it.
    path.write_text(json.dumps(_dirty_notebook(), indent=1) + "\n", encoding="utf-8")
    return path


def test_removes_timestamps_and_volatile_metadata(dirty):
    assert cn.main([str(dirty)]) == 0
    nb = json.loads(dirty.read_text(encoding="utf-8"))
    cell = nb["cells"][1]
    assert "execution" not in cell["metadata"]
    assert "collapsed" not in cell["metadata"] and "scrolled" not in cell["metadata"]
    assert cell["metadata"]["tags"] == ["keep-me"]  # non-volatile metadata survives
    assert "widgets" not in nb["metadata"]
    assert nb["metadata"]["language_info"] == {"name": "python"}
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "transient" not in cell["outputs"][1]


def test_renumbers_execution_counts(dirty):
    cn.main([str(dirty)])
    nb = json.loads(dirty.read_text(encoding="utf-8"))
    counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
    assert counts == [1, 2, None]
    assert nb["cells"][1]["outputs"][1]["execution_count"] == 1


def test_rewrites_addresses_only(dirty):
    cn.main([str(dirty)])
    nb = json.loads(dirty.read_text(encoding="utf-8"))
    outs = nb["cells"][1]["outputs"]
    assert "".join(outs[0]["text"]) == "took 1.2 s at 0x…\n"  # the timing is left to nbval's sanitizer
    assert "".join(outs[1]["data"]["text/plain"]) == "<object object at 0x…>"
    assert "".join(nb["cells"][2]["outputs"][0]["text"]) == "short 0x1f\n"  # too short to be an address


def test_idempotent_and_trailing_newline(dirty):
    cn.main([str(dirty)])
    once = dirty.read_text(encoding="utf-8")
    assert once.endswith("}\n") and once.startswith('{\n "cells"')
    cn.main([str(dirty)])
    assert dirty.read_text(encoding="utf-8") == once
    assert cn.main(["--check", str(dirty)]) == 0


def test_check_exit_codes_and_changes_nothing(dirty, capsys):
    before = dirty.read_text(encoding="utf-8")
    assert cn.main(["--check", str(dirty.parent)]) == 1
    assert dirty.read_text(encoding="utf-8") == before
    assert str(dirty) in capsys.readouterr().err
    assert cn.main([str(dirty.parent)]) == 0
    assert cn.main(["--check", str(dirty.parent)]) == 0


def test_folders_skip_checkpoints(tmp_path, dirty):
    ckpt = tmp_path / ".ipynb_checkpoints"
    ckpt.mkdir()
    (ckpt / "nb-checkpoint.ipynb").write_text(dirty.read_text(encoding="utf-8"), encoding="utf-8")
    assert cn.find_notebooks([tmp_path]) == [dirty]


def test_missing_path_is_an_error(tmp_path, capsys):
    assert cn.main(["--check", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_keeps_the_file_mode(dirty):
    dirty.chmod(0o644)
    assert cn.main([str(dirty)]) == 0
    assert dirty.stat().st_mode & 0o777 == 0o644
