# Two commands for a fresh machine (see README.md):
#   make book   set everything up in .venv/ and build the website into _build/html
#   make test   set everything up and run the whole test suite
# `make book SOLUTIONS=0` builds the site for a graded cohort: no worked solutions anywhere on it.
SHELL := /bin/bash
PY    := .venv/bin/python
STAMP := .venv/.installed
RUN   := PATH="$(CURDIR)/.venv/bin:$$PATH"
# the graded-cohort switch: SOLUTIONS=0 (or no/false) leaves the worked solutions out of the site
SOLUTIONS ?= 1
BOOK_FLAGS := $(if $(filter 0 no false,$(SOLUTIONS)),--no-solutions,)

.PHONY: setup book release test browser-deps grader-deps bench-build clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(STAMP)

# regenerate chapters/ from solutions/, execute the chapters (2 at a time, cached), build strictly
# (jupyter-book -W -n --keep-going); see autograder/site.py
book: setup
	$(RUN) $(PY) -m autograder book $(BOOK_FLAGS)

# only the student notebooks chapters/ (nbgrader generate_assignment)
release: setup
	$(RUN) $(PY) -m autograder release

# Debian's chromium and a CJK font (the Chinese titles in the screenshots) for the browser tests;
# installed once, needs root, as CI has
browser-deps:
	@test -x /usr/bin/chromium && dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

# Debian's bubblewrap: the autograder's sandbox for student code (autograder/sandbox.py)
grader-deps:
	@command -v bwrap >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

# the tests build the book once, strictly (clean when CI is set), and share it (autograder.site.ensure_built)
test: setup browser-deps grader-deps
	$(RUN) $(PY) -m pytest

# cold and no-change build times, printed as a table
bench-build: setup
	$(RUN) $(PY) benchmarks/bench_build.py

clean:
	rm -rf _build build
