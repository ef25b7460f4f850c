# Two commands: `make demo` and `make test`. Each installs everything from nothing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration bench proto clean

install: $(STAMP)
	@sudo_if() { if [ "$$(id -u)" = 0 ]; then "$$@"; else sudo "$$@"; fi; }; sudo_if bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q --no-build-isolation -e ".[dev]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/squall run examples/hello.py

test: install
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: install
	$(PY) -m pytest -q tests/unit

bench: install
	$(PY) -m pip install -q --no-build-isolation -e ".[bench]"
	command -v podman >/dev/null || apt-get install -y -q podman   # the image-build peer
	$(PY) benchmarks/run.py

proto:
	$(PY) scripts/gen_proto.py

clean:
	rm -rf $(VENV)
