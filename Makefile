# Set-up is part of every target: a fresh machine needs nothing but `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPINGS := build/typings
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
WASM32 := build/wasm32
WASM32_SRC := rig/benchmarks/wasm32

.PHONY: all setup system-deps plugin lint typecheck test demo benchmark wasm32 clean

all: test

# mosquitto, and what its plugin (rig/broker_plugin/buttonrig_auth.c) is built with: the broker's
# plugin headers (mosquitto-dev, libmosquitto-dev), OpenSSL's (libssl-dev) and a C compiler.
# openssl names the registered CAs in the broker's capath (rig/cloud/ca_registration/trust.py);
# mosquitto-clients: mosquitto_pub, the workshop's device in tests/cloud/test_ca_registration_broker.py.
SYSTEM_PACKAGES := mosquitto mosquitto-dev libmosquitto-dev libssl-dev gcc openssl mosquitto-clients

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	[ -z "$$missing" ] || { \
		echo "installing $$missing (system packages)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; }

# The broker plugin, into build/ (rig/broker.py builds it the same way when missing or stale).
plugin: system-deps $(STAMP)
	$(BIN)/python -c "from rig.broker import plugin_library; print(plugin_library())"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -rf $(TYPINGS) && $(BIN)/pip install -q --target $(TYPINGS) --no-deps \
		micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	touch $(STAMP)

setup: system-deps $(STAMP) plugin

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/pyright -p pyrightconfig.json
	$(BIN)/pyright -p pyrightconfig.firmware.json

# worksteal: a worker that runs out takes tests queued on the other; with `load` the long e2e
# tests queued on one worker ran on alone for minutes (620 s against 410 s, both on 2 cores).
# Three workers on the two cores: most of an end-to-end test's time is a board's own timers
# (debounce, back-off, boots), not CPU; with two the suite took 695 s on a quiet machine.
test: lint typecheck
	$(BIN)/pytest -n 3 --dist worksteal $(PYTEST_ARGS)
	# the backend-agnostic tests again, through the AWS backend's boto3 code against the local
	# cloud's AWS HTTP interface (README "Tests against AWS IoT Core")
	$(BIN)/pytest -n 2 -m backend --backend aws-http $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m rig.demo

# A 32-bit MicroPython (WebAssembly, run by node) for the heap_wasm32 benchmark only.
$(WASM32)/.installed: $(WASM32_SRC)/package.json $(WASM32_SRC)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "the heap_wasm32 benchmark needs node and npm"; exit 1; }
	mkdir -p $(WASM32)
	cp $(WASM32_SRC)/package.json $(WASM32_SRC)/package-lock.json $(WASM32)/
	cd $(WASM32) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

wasm32: $(WASM32)/.installed

benchmark: setup wasm32
	$(BIN)/python -m rig.benchmarks

clean:
	rm -rf build .buttonrig
