# nst_edu: `make demo` and `make test` each set everything up from nothing (a .venv in this folder).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
NBVAL := -m pytest --nbval --nbval-sanitize-with notebooks/sanitize.cfg -q -p no:cacheprovider
# "Another CPU": oneDNN and ATen capped to AVX2 (no native bfloat16, other vector widths) and one thread.
# On this project's AVX-512-BF16 CPU it changes float32 costs in their 5th-6th digit and turns the fast
# preset's bfloat16 into float32 (precision "auto"), as a learner's laptop would.
OTHER_CPU := ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=1
NUMERICAL_TESTS = tests/test_costs.py tests/test_optim.py tests/test_vgg.py tests/test_transfer.py \
	tests/test_noise.py tests/test_hardware.py $(wildcard tests/test_checks*.py)
OTHER_CPU_NOTEBOOKS ?= notebooks

.PHONY: help setup demo test lint unit notebooks other-cpu clean-notebooks lab app bench clean

help:
	@echo "make demo   - set up .venv and stylize a bundled sample offline (writes $(DEMO_OUT)/)"
	@echo "make test   - set up .venv and run every test and every notebook (strict nbval), then the numerical"
	@echo "              tests and the notebooks again as another CPU computes them (make other-cpu)"
	@echo "make lint   - ruff (lint and format check); part of make test"
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

test: $(STAMP) lint unit notebooks other-cpu

lint: $(STAMP)
	$(BIN)/ruff check nst_edu tests tools benchmarks
	$(BIN)/ruff format --check nst_edu tests tools benchmarks

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

notebooks: $(STAMP)
	$(BIN)/python tools/clean_notebooks.py --check notebooks
	$(BIN)/python $(NBVAL) notebooks

other-cpu: $(STAMP)
	$(OTHER_CPU) $(BIN)/python -c "from nst_edu.core import hardware as h; p = h.resolve_precision('auto'); \
		assert p == 'float32', p; print('other-cpu: AVX2 cap in effect, precision auto -> float32')"
	$(OTHER_CPU) $(BIN)/python -m pytest $(NUMERICAL_TESTS) -q -p no:cacheprovider
	$(OTHER_CPU) $(BIN)/python $(NBVAL) $(OTHER_CPU_NOTEBOOKS)

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
