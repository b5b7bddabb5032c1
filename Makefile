# Every target sets up what it needs on a fresh machine: a virtualenv with the project and its
# extras, and (for the browser tests) Debian's chromium.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench bench-quick chromium wrk clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(STAMP)

# $(call apt_install,COMMAND,PACKAGE): install a Debian package when its command is missing.
define apt_install
	@command -v $(1) >/dev/null 2>&1 || { \
	  echo "Installing Debian package $(2)..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(2) >/dev/null; }
endef

chromium:
	$(call apt_install,chromium,chromium)

wrk:
	$(call apt_install,wrk,wrk)

demo: $(STAMP)
	$(PY) -m fairgate.demo

test: $(STAMP) chromium
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP) wrk
	$(PY) -m bench.run

bench-quick: $(STAMP) wrk
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .data *.egg-info
