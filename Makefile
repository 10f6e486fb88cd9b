# Two commands: `make demo` and `make test`. Both set up .venv once; a second run reinstalls nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ctxfit-installed

.PHONY: demo test lint venv clean

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

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
