# mobiot: `make demo` and `make test` on a fresh machine do all the set-up themselves.
# Real boards: make flash PORT=/dev/ttyUSB0 BOARD=lilygo-t-sim7080g-s3, make provision, make collect.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-setup
STUBS  := typings/.stamp-stubs
ESP32_STUBS := micropython-esp32-stubs==1.29.0.post1
PORT   ?=
BOARD  ?= sim
DB     ?= collect.sqlite
# Parallel test workers: the suite mostly waits on throttled serial links, not on the CPU.
JOBS   ?= 4

export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup test test-fw test-host lint demo bench collect flash provision vboard clean distclean

setup: $(STAMP) $(STUBS)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# The ESP32 API as pyright sees it (stubs only: never on the Python path).
$(STUBS): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade --target typings $(ESP32_STUBS)
	touch $@

test: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile tests

test-fw: setup
	$(BIN)/pytest -q tests/firmware

test-host: setup
	$(BIN)/pytest -q -n $(JOBS) --dist loadfile tests/host

lint: setup
	$(BIN)/ruff check .
	$(BIN)/pyright -p firmware/pyrightconfig.json
	$(BIN)/pyright -p pyrightconfig.json

demo: setup
	$(BIN)/mobiot demo $(if $(DURATION),--duration $(DURATION))

bench: setup
	$(BIN)/python bench/run.py

vboard: setup
	$(BIN)/mobiot vboard --count 3

collect: setup
	$(BIN)/mobiot collect $(if $(PORT),--port $(PORT)) --db $(DB)

# With a PORT the board must be named: BOARD's default (sim) is the virtual board's definition.
flash: setup
	$(if $(and $(PORT),$(filter file,$(origin BOARD))),$(error make flash PORT=$(PORT): give BOARD=<name> too (mobiot boards lists them)))
	$(BIN)/mobiot flash $(if $(PORT),--port $(PORT),--all) --board $(BOARD)

provision: setup
	$(BIN)/mobiot provision $(if $(PORT),--port $(PORT)) --board $(BOARD)

clean:
	rm -rf state demo-out .pytest_cache .ruff_cache bench/results.json
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) typings
