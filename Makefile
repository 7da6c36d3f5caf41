# difusor: the two commands that matter
#   make rehearse   full local rehearsal: lab host up, deploy twice, verify, summary, teardown
#   make test       all tests: lint and types, unit tests, then the host and network suites
#                   against the lab
# Both install what they need first (Debian packages, a Python virtualenv).

VENV   ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST := $(PYTHON) -m pytest

.PHONY: setup rehearse test unit lint check lab-up lab-down deploy-lab simulacro

setup: $(VENV)/.installed
	@scripts/install-host-packages

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	touch $@

rehearse: setup
	$(PYTHON) -m difusor.rehearsal.lab rehearse

test: setup lint
	$(PYTEST) tests/unit tests/server
	$(PYTEST) tests/host tests/lab

# Style and types: seconds, so CI runs it first.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	$(PYTEST) tests/unit tests/server

# The settings of every host of an inventory, checked with no connection (the deploy runs
# the same check before it connects): make check INVENTORY=inventory/lab.py
INVENTORY ?= inventory/production.py
check: $(VENV)/.installed
	$(VENV)/bin/difusor check --inventory $(INVENTORY)

lab-up: setup
	$(PYTHON) -m difusor.rehearsal.lab up

deploy-lab: setup
	$(PYTHON) -m difusor.rehearsal.lab deploy

simulacro: setup
	$(PYTHON) -m difusor.rehearsal.lab simulacro

lab-down: setup
	$(PYTHON) -m difusor.rehearsal.lab down

# The Vagrant rehearsal, for real (22 to 26 minutes under software emulation; see README).
# CI runs it after `make test`.
.PHONY: vagrant-rehearse
vagrant-rehearse: setup
	$(PYTHON) -m difusor.rehearsal.vagrant rehearse
