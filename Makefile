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
# Parallel test workers: the suite mostly waits on throttled serial links, but virtual boards
# booting beside each other starve on 2 cores: one worker per core keeps their timing sane.
JOBS   ?= 2

export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup mosquitto test test-stress test-fw test-host lint demo bench collect flash provision vboard clean distclean

setup: $(STAMP) $(STUBS) mosquitto

# The MQTT tests and `make demo` run a real Mosquitto broker (tests/mqtt_fixtures.py). Install it
# from apt when it is missing and apt is there (CI: a fresh Debian/Ubuntu machine, as root);
# elsewhere say how, and the MQTT tests skip (fail under CI=true).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  echo "installing mosquitto (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends mosquitto >/dev/null; \
	else \
	  echo "mosquitto not found and no apt-get: install it (brew install mosquitto, dnf install mosquitto," \
	       "or https://mosquitto.org/download) or set MOSQUITTO=/path/to/mosquitto; the MQTT tests need it" >&2; \
	fi

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

# The suite must pass every time on a loaded machine: `make test` STRESS_RUNS times in a row
# while two CPU-bound processes run beside it (on a 2-core machine, the cores are then shared
# three ways). The burners are stopped however the runs end; fails if any run failed.
STRESS_RUNS ?= 3
STRESS_TEST ?= $(MAKE) --no-print-directory test
test-stress: setup
	@burners=""; \
	for i in 1 2; do $(BIN)/python -c "while True: pass" & burners="$$burners $$!"; done; \
	trap 'kill $$burners 2>/dev/null; wait $$burners 2>/dev/null' EXIT INT TERM; \
	echo "test-stress: CPU burners$$burners" >&2; \
	failed=0; \
	for run in $$(seq $(STRESS_RUNS)); do \
	  if $(STRESS_TEST); then echo "test-stress: run $$run of $(STRESS_RUNS) passed" >&2; \
	  else echo "test-stress: run $$run of $(STRESS_RUNS) FAILED" >&2; failed=$$((failed + 1)); fi; \
	done; \
	echo "test-stress: $$(($(STRESS_RUNS) - failed)) of $(STRESS_RUNS) runs passed" >&2; \
	test $$failed -eq 0

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
