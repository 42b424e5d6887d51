# vc-eval: two commands on a fresh machine (Python 3.11+ and make):
#   make demo   set up .venv, install, make the synthetic data if missing, run the main job
#   make test   ruff + the full test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := vc-eval
DATA := data/synthetic
COUNCIL ?= $(shell test -x $(BIN)/python && $(BIN)/python -c "import pandas as p; print(sorted(p.read_parquet('$(DATA)/councils.parquet').council)[0])" 2>/dev/null)

.PHONY: setup demo test a11y lab data national bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (vc-eval)" > /dev/null
	touch $(STAMP)

setup: $(STAMP)

$(DATA)/children.parquet: | $(STAMP)
	$(BIN)/vc-eval synth --bundled --out $(DATA) --no-progress

data: $(DATA)/children.parquet

demo: setup data
	$(BIN)/vc-eval report --council "$(COUNCIL)" --data $(DATA) --out reports --kernel $(KERNEL)

test: setup data
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadscope

# Accessibility of a rendered report: axe-core in headless Chromium (apt-get install chromium)
a11y: setup data
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_report_safety.py

lab: setup data
	$(BIN)/jupyter lab --notebook-dir=notebooks --MappingKernelManager.default_kernel_name=$(KERNEL)

national: setup
	$(BIN)/vc-eval synth --councils 153 --seed 1 --out data/national

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.ipynb .pytest_cache .ruff_cache
