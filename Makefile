# Two commands on a fresh Debian-like machine (as root): `make demo` and `make test`.
# Each installs what it needs (apt packages, .venv, the package with its Java plugin) and is idempotent.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SYSTEM_STAMP := $(VENV)/.system-packages
INSTALL_STAMP := $(VENV)/.installed
APT_PACKAGES := libij-java xvfb x11-utils xdotool openjdk-17-jdk-headless
PYTEST_ARGS ?=

.PHONY: setup demo test bench bench-precision bench-patience bench-quality clean

setup: $(INSTALL_STAMP)

$(SYSTEM_STAMP):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@touch $@

$(INSTALL_STAMP): $(SYSTEM_STAMP) pyproject.toml $(wildcard setup.py) constraints.txt $(wildcard java/src/*/*.java java/src/*.java java/*.config)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	@touch $@

demo: setup
	$(PY) -m imagej_n2v.demo demo-output

test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here."; exit 1; fi; exit $$rc

bench: setup
	$(PY) -m benchmarks.run --out benchmarks/results.md
	$(PY) -m benchmarks.verdict --out benchmarks/verdict-results.md

bench-precision: setup
	$(PY) benchmarks/bench_precision.py --out benchmarks/precision-results.md

# Hours at n2v's default settings: PATIENCE_ARGS="--image FILE --channel 2 --precision bf16 --time-limit 2h --parallel"
bench-patience: setup
	$(PY) -m benchmarks.patience --out benchmarks/patience-results.md $(PATIENCE_ARGS)

# Real images with a clean reference against n2v's own loop, Gaussian and BM3D; about an hour on 2 cores.
# The sample images are fetched with pip download into bench-output/. Longer: QUALITY_ARGS="--time-limits 2m,10m,30m"
bench-quality: setup
	$(PY) -m pip install -q -c constraints.txt -e ".[bench]"
	$(PY) -m benchmarks.quality_real --out benchmarks/quality-results.md $(QUALITY_ARGS)
	$(PY) -m benchmarks.threed --out benchmarks/threed-results.md $(THREED_ARGS)

clean:
	rm -rf build *.egg-info demo-output bench-output imagej_n2v/imagej/java/*.jar
