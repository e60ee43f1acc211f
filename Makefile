# faktory: `make demo` and `make test` on a fresh Debian bookworm machine, as root.
# Every step is idempotent: a second run re-installs and re-builds nothing.

SHELL := /bin/bash
PY := .venv/bin/python
# Under CI=true a missing engine, registry, tool or fixture fails a test instead of skipping it.
export CI ?= true
PYTEST_ARGS ?=

.PHONY: all setup services services-stop fixtures demo demo-fixture test ci

all: test

setup:
	scripts/setup.sh

services: setup
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

# All fixture images: built once, cached in $${FAKTORY_FIXTURES_CACHE:-~/.cache/faktory/fixtures}, exported,
# pushed to the test registries.
fixtures: services
	$(PY) -m fixtures.build

demo-fixture: services
	$(PY) -m fixtures.build --only flask

# The demo: convert the sample image to a microVM (kernel + initrd with the closure) and boot it in QEMU,
# printing the app's output (its one-shot mode) and exiting with the app's exit code.
demo: demo-fixture
	.venv/bin/faktory convert faktory-fixture/flask:latest --to microvm -o out/demo-flask-microvm
	.venv/bin/faktory run out/demo-flask-microvm --timeout 600 -- python app.py --once

test: fixtures
	$(PY) -m pytest -p no:cacheprovider --timeout=900 --durations=15 $(PYTEST_ARGS) tests

ci:
	.ci/run
