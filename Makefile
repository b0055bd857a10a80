# Every target bootstraps what it needs: the Debian packages (when run as
# root), a .venv with the project and its extras, then does its job.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEBIAN_STAMP := $(VENV)/.debian

.PHONY: run test lint typecheck unit bench demo screenshots dist deb msi pkg lock sbom clean bootstrap

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
	$(VENV)/bin/ruff check agent server devtools tests bench installers
	$(VENV)/bin/ruff format --check agent server devtools tests bench installers
	$(VENV)/bin/lint-imports
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --no-progress .github/workflows

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --platform win32 agent tests/native/windows/*.py
	$(VENV)/bin/mypy --platform darwin agent tests/native/macos/*.py

test: bootstrap lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# The agent as one self-contained folder (dist/waymark/), what the MSI and the pkg wrap.
dist: $(STAMP)
	$(VENV)/bin/pyinstaller installers/pyinstaller/waymark.spec --noconfirm

# dist/waymark_<version>_<arch>.deb for Debian and Ubuntu desktops.
deb: dist
	bash installers/linux/build-deb.sh

# dist/waymark-<version>-x64.msi from the Windows onedir that PyInstaller built on Windows
# (the release pipeline): make msi WINDOWS_DIST=path/to/waymark. Without WINDOWS_DIST: a
# stand-in payload (dist/waymark-<version>-x64-standin.msi). Signs when WAYMARK_SIGN_* is set.
msi: bootstrap
	$(PY) -m installers.windows.msi $(if $(WINDOWS_DIST),--dist $(WINDOWS_DIST),--standin) --out dist

# dist/waymark-<version>.pkg from Waymark.app built on macOS: make pkg MACOS_APP=path/to/Waymark.app.
# Without MACOS_APP: a stand-in app (dist/waymark-<version>-standin.pkg). Unsigned: productsign
# and notarytool run on macOS (.github/workflows/release.yml).
pkg: bootstrap
	$(PY) -m installers.macos.pkg $(if $(MACOS_APP),--app $(MACOS_APP),--standin) --out dist

# installers/requirements-frozen.txt: what the frozen builds install, pinned with hashes for
# Windows, macOS and Linux (uv, from pyproject.toml + installers/requirements-frozen.in).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml installers/requirements-frozen.in --universal \
	  --python-version 3.11 --generate-hashes -o installers/requirements-frozen.txt

# dist/waymark-sbom.cdx.json: CycloneDX SBOM of the frozen builds' locked dependencies.
sbom: $(STAMP)
	@mkdir -p dist
	$(VENV)/bin/cyclonedx-py requirements installers/requirements-frozen.txt --of JSON \
	  -o dist/waymark-sbom.cdx.json

bench: bootstrap
	$(PY) -m bench

demo: bootstrap
	$(PY) -m devtools.demo

screenshots: bootstrap
	$(PY) -m devtools.demo --screenshots docs/screenshots
	WAYMARK_WRITE_SCREENSHOTS=1 $(PY) -m pytest -q tests/server/test_dashboard.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
