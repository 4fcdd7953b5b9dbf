# Two commands for a new user: `make run` (set up + offline default suite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.leafbench-installed

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install run test bench clean

install: $(STAMP)

# torch==2.13.0 first: it is the CPU wheel on this disk; the project's own range accepts it, so pip keeps it.
$(STAMP): pyproject.toml requirements-offline.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps -r requirements-offline.txt
	touch $@

run: install
	$(BIN)/leafbench run suites/quickstart.yaml

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/grid.py

clean:
	rm -rf $(VENV) results reports
