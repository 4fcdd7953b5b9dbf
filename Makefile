# Two commands for a new user: `make run` (set up + offline default suite) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.leafbench-installed
TEST_STAMP := $(VENV)/.leafbench-test-installed

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
# Bytecode is written as each module is first imported, not compiled for all ~17k files at install: the run imports
# about a third of them, so a cold `make install` takes ~30 s instead of ~82 (AVX2 EPYC, docs/performance.md) and the
# first process pays ~22 s once to write what it imports. In an environment that sets PYTHONDONTWRITEBYTECODE (the
# AVX2 EPYC's does) those modules would otherwise be compiled again in every process (~34 s of imports each, not 14).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-test run test test-avx2 bench clean

install: $(STAMP)
install-test: $(TEST_STAMP)

# The rest through uv: the same packages as pip resolves (compared: `pip list` equal), in ~50 s instead of ~85, both
# then compiling bytecode (docs/performance.md). uv reads UV_INDEX_URL / UV_DEFAULT_INDEX, not pip.conf; behind a
# mirror that only pip.conf names, `make run INSTALL='.venv/bin/pip install -q'` installs with pip instead.
INSTALL ?= $(BIN)/uv pip install -q --python $(BIN)/python

# torch==2.13.0 first, by pip: the CPU wheel on this disk is found through pip's config; the project's own range
# accepts it, so the second step keeps it.
$(STAMP): pyproject.toml requirements-offline.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile torch==2.13.0 'uv>=0.5'
	$(INSTALL) -e .
	$(INSTALL) --no-deps -r requirements-offline.txt
	touch $@

# The test extras (pytest, pytest-xdist, beir, ray[data]) only for the targets that need them: `make run` skips their ~10 s.
$(TEST_STAMP): $(STAMP)
	$(INSTALL) -e '.[test]'
	touch $@

run: install
	$(BIN)/leafbench run suites/quickstart.yaml

# Two pytest workers, one test file each at a time (`--dist loadfile`: a module's fixtures, such as the Ray session
# and the module cache, are still built once). Serial, the suite keeps about one core busy (imports, subprocess
# start-ups, tokenising); on the 2-core AVX2 EPYC two workers took it from 386 s to 312 s (paired medians,
# docs/performance.md). `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test: install-test
	$(PYTEST)

# The suite as an AVX2-only CPU runs it, on an AVX-512 one: BLAS/oneDNN/ATen kernels capped at AVX2 (other float32
# summation orders; `dtype: auto` -> fp32), so a bit-exact comparison that only holds on one CPU kind shows up here.
test-avx2: install-test
	OPENBLAS_CORETYPE=Haswell MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
		$(PYTEST)

# test extras: the benchmark's reference scorer is beir's own exact search
bench: install-test
	$(BIN)/python benchmarks/grid.py

clean:
	rm -rf $(VENV) results reports
