# Every target bootstraps what it needs: the Debian packages (when run as
# root), a .venv with the project and its extras, then does its job.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEBIAN_STAMP := $(VENV)/.debian

.PHONY: run test lint typecheck unit bench demo screenshots dist deb clean bootstrap

bootstrap: $(STAMP) $(DEBIAN_STAMP)

$(DEBIAN_STAMP): scripts/bootstrap-debian.sh
	@mkdir -p $(VENV)
	bash scripts/bootstrap-debian.sh
	@touch $@

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,dev]'
	@touch $@

# The agent's main job: watch, coach, record. Extra arguments: make run ARGS="--script FILE"
run: bootstrap
	$(VENV)/bin/waymark run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check agent server devtools tests bench
	$(VENV)/bin/ruff format --check agent server devtools tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --platform win32 agent
	$(VENV)/bin/mypy --platform darwin agent

test: bootstrap lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# The agent as one self-contained folder (dist/waymark/), what the MSI and the pkg wrap.
dist: $(STAMP)
	$(VENV)/bin/pyinstaller installers/pyinstaller/waymark.spec --noconfirm

# dist/waymark_<version>_<arch>.deb for Debian and Ubuntu desktops.
deb: dist
	bash installers/linux/build-deb.sh

bench: bootstrap
	$(PY) -m bench

demo: bootstrap
	$(PY) -m devtools.demo

screenshots: bootstrap
	$(PY) -m devtools.demo --screenshots docs/screenshots
	WAYMARK_WRITE_SCREENSHOTS=1 $(PY) -m pytest -q tests/server/test_dashboard.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
