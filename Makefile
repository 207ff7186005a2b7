# Every target creates .venv itself, so a fresh machine needs nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-soak lint clean soak

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	RUNSTREAM_LOAD_EXAMPLES=true $(BIN)/runstream serve --host 127.0.0.1 --port 3026 --data-dir ./data

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The fault suite at a larger scale: 200 runs, 40 clients, 40+ kills, longer fuzzing.
soak: $(STAMP)
	FAULTS_SOAK=1 $(BIN)/python -m pytest -q tests/faults

bench: $(STAMP)
	$(BIN)/python -m bench

# Ten minutes of sustained load on a served runstream: the WAL, runs/s and list p99 per minute.
bench-soak: $(STAMP)
	$(BIN)/python -m bench wal_soak

lint: $(STAMP)
	$(BIN)/ruff check service eventstore projections tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) data .pytest_cache
