# Every target sets up what it needs on a fresh machine: a virtualenv with the project and its
# extras, and (for the browser tests) Debian's chromium.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench bench-quick bench-instructions chromium wrk valgrind proxies clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	# compat mode: a path entry for the project root, so new packages need no reinstall.
	$(PY) -m pip install --quiet --disable-pip-version-check \
	  --config-settings editable_mode=compat -e '.[test,bench]'
	touch $(STAMP)

# $(call apt_install,COMMAND,PACKAGE): install a Debian package when its command is missing.
define apt_install
	@command -v $(1) >/dev/null 2>&1 || { \
	  echo "Installing Debian package $(2)..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(2) >/dev/null; }
endef

# Korean text on the pages needs a CJK font in the headless browser (fonts-nanum).
chromium:
	$(call apt_install,chromium,chromium)
	@[ -e /usr/share/fonts/truetype/nanum ] || { \
	  echo "Installing Debian package fonts-nanum..."; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-nanum >/dev/null || { \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-nanum >/dev/null; }; }

wrk:
	$(call apt_install,wrk,wrk)

valgrind:
	$(call apt_install,valgrind,valgrind)

# The multi-process tests put a real HAProxy and PgBouncer in front of the apps.
proxies:
	$(call apt_install,haproxy,haproxy)
	$(call apt_install,pgbouncer,pgbouncer)

demo: $(STAMP)
	$(PY) -m fairgate.demo

test: $(STAMP) chromium proxies
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP) wrk
	$(PY) -m bench.run

bench-quick: $(STAMP) wrk
	$(PY) -m bench.run --quick

# Instructions per request (valgrind): before/after figures the machine's noise cannot move.
bench-instructions: $(STAMP) valgrind
	$(PY) -m bench.instructions

clean:
	rm -rf $(VENV) .data *.egg-info
