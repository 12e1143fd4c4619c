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

.PHONY: all setup system-deps lint typecheck test demo benchmark wasm32 clean

all: test

system-deps:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
		echo "installing mosquitto (system package)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto >/dev/null; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -rf $(TYPINGS) && $(BIN)/pip install -q --target $(TYPINGS) --no-deps \
		micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	touch $(STAMP)

setup: system-deps $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/pyright -p pyrightconfig.json
	$(BIN)/pyright -p pyrightconfig.firmware.json

test: lint typecheck
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

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
