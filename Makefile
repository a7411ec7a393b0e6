# nst_edu: `make demo` and `make test` each set everything up from nothing (a .venv in this folder).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: help setup demo test unit notebooks clean-notebooks lab app bench clean

help:
	@echo "make demo   - set up .venv and stylize a bundled sample offline (writes $(DEMO_OUT)/)"
	@echo "make test   - set up .venv and run every test and every notebook (strict nbval)"
	@echo "make lab    - open JupyterLab on the lesson notebooks"
	@echo "make app    - serve the widget lab as a web page (Voila) on 127.0.0.1:8866"
	@echo "make bench  - run the benchmarks in benchmarks/ and write benchmarks/results/"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "torch>=2.2" "torchvision>=0.17"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/nst-edu --content chelsea --style swirls --out $(DEMO_OUT) --force

test: $(STAMP) unit notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

notebooks: $(STAMP)
	$(BIN)/python tools/clean_notebooks.py --check notebooks
	$(BIN)/python -m pytest --nbval notebooks --nbval-sanitize-with notebooks/sanitize.cfg -q -p no:cacheprovider

clean-notebooks: $(STAMP)
	$(BIN)/python tools/clean_notebooks.py notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

app: $(STAMP)
	$(BIN)/voila app/style_lab.ipynb --no-browser --Voila.ip=127.0.0.1 --port=8866

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
