# Two commands: `make demo` and `make test`. Both set up .venv once; a second run reinstalls nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ctxfit-installed

CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint venv clean chromium

venv: $(STAMP)

# torch==2.13.0 is the CPU build (any other torch pulls several GB of CUDA wheels); it is
# installed first so that the package's own `torch>=2.2` is already satisfied.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,cluster]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ctxfit compile yolov8n --hw hailo8

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# tests/test_browser.py opens the HTML report in Chromium: install it from Debian's packages
# when missing and apt-get can run (root or passwordless sudo); otherwise that test is skipped.
chromium:
	@[ -x $(CHROMIUM) ] || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "chromium missing and apt-get cannot run: the browser test will be skipped"; exit 0; fi; \
	  command -v apt-get >/dev/null 2>&1 || { echo "no apt-get: the browser test will be skipped"; exit 0; }; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium \
	    || echo "chromium could not be installed: the browser test will be skipped"; }

test: lint chromium
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
