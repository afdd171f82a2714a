# Everything a fresh machine needs: `make run` and `make test` create the venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/vmsd.yml

.PHONY: install run test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/vmsd run --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check vmsd tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP) lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The unit tests alone (pure, no database, no FFmpeg, no daemon): seconds.
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit

bench: $(STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/auth_hook.py
	$(BIN)/python bench/auth_daemon.py
	$(BIN)/python bench/recorders.py
	$(BIN)/python bench/reader_inputs.py
	$(BIN)/python bench/recordings.py
	$(BIN)/python bench/observability.py
	$(BIN)/python bench/child_memory.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/failures.py
	$(BIN)/python bench/probe.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/login.py
	$(BIN)/python bench/playback.py
	$(BIN)/python bench/links_ratelimit.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/stretches.py
	$(BIN)/python bench/whep_proxy.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build *.egg-info
