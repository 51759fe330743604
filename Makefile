# Two commands for a fresh machine (see README.md):
#   make book   set everything up in .venv/ and build the website into _build/html
#   make test   set everything up and run the whole test suite
SHELL := /bin/bash
PY    := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup book test browser-deps clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(STAMP)

book: setup
	PATH="$(CURDIR)/.venv/bin:$$PATH" jupyter-book build . --all -W -n --keep-going

# Debian's chromium for the browser tests (installed once; needs root, as CI has)
browser-deps:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup browser-deps
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(PY) -m pytest

clean:
	rm -rf _build
