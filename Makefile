# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean fuzz soak azurite

# Azurite (the Azure Blob emulator used by tests/cloud), installed project-locally in node/ (git-ignored).
# 3.35.0 is the newest release that runs on node 20 (3.37 needs node >= 22).
AZURITE_VERSION := 3.35.0
AZURITE := node/node_modules/.bin/azurite-blob

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# (the C extension is built by the install: an edit of _native.c installs again)
$(VENV)/.installed-test: pyproject.toml src/exzarr/_native.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(VENV)/.installed: pyproject.toml src/exzarr/_native.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[demo]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py

$(AZURITE):
	npm install --prefix node --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	touch $@

azurite: $(AZURITE)

test: $(VENV)/.installed-test $(AZURITE)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/ruff format --check src tests bench examples tools

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis

$(VENV)/.installed-bench: pyproject.toml src/exzarr/_native.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,bench]"
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/compare.py --out bench/RESULTS.md
	$(BIN)/python bench/cloud.py --out bench/CLOUD.md
	$(BIN)/python bench/dask_bench.py --out bench/DASK.md
	$(BIN)/python bench/batches_bench.py --out bench/BATCHES.md

# The fuzz suite and the crash harness with large budgets (`make test` runs both with small defaults).
# FUZZ_SEED=random draws a new seed each run (printed in the summary); set an integer to replay one.
FUZZ_EXAMPLES ?= 12000
FUZZ_SEED ?= random
CRASH_TRIALS ?= 300
fuzz: $(VENV)/.installed-test
	EXZARR_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) EXZARR_FUZZ_SEED=$(FUZZ_SEED) EXZARR_CRASH_TRIALS=$(CRASH_TRIALS) \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz tests/test_crash.py

# The soak/load test: 16 threads of mixed reads and writes for 60 s (bench/SOAK.md).
soak: $(VENV)/.installed-test
	$(BIN)/python bench/soak.py --seconds 60 --threads 16 --out bench/SOAK.md
