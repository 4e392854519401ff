# vdlite: the two commands the README starts with are `make demo` and `make test`.
# Set-up makes a virtual environment in .venv. Without an NVIDIA GPU it installs PyTorch's
# CPU build first (TORCH_CPU_INDEX is PyTorch's CPU wheel index; pip falls back to its own
# configured indexes where that one cannot be reached).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
# The tests run in TEST_JOBS processes (pytest-xdist; "auto": one per core), each notebook and
# each test file whole in one of them, with one torch thread each so they do not compete.
TEST_JOBS ?= auto
PYTEST_ARGS ?= --durations=15 -n $(TEST_JOBS) --dist loadfile

.PHONY: setup demo gifs test test-lib test-lessons lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(HAS_GPU),yes)
	$(PY) -m pip install --quiet torch
else
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" --extra-index-url $(TORCH_CPU_INDEX) 2>&1 \
		| grep -v -e "Retrying" -e "Could not fetch URL" -e "NewConnectionError" || true
	$(PY) -c "import torch; print('torch', torch.__version__)"
endif
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(VENV)/bin/vdlite demo --out out/demo

# The README's animations (real / video model / frame-by-frame model): the CPU demo here, and on
# a machine with an NVIDIA GPU the GPU demo as well. Each demo's own files stay in out/.
gifs: setup
	$(VENV)/bin/vdlite demo --out out/demo-cpu --no-progress
	mkdir -p docs && cp out/demo-cpu/side_by_side.gif docs/demo_cpu.gif
ifeq ($(HAS_GPU),yes)
	$(VENV)/bin/vdlite demo --device cuda --out out/demo-cuda --no-progress
	cp out/demo-cuda/side_by_side.gif docs/demo_cuda.gif
endif

test: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q $(PYTEST_ARGS) tests lessons --nbval-lax -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check vdlite kernels tests assignments

clean:
	rm -rf $(VENV) out .pytest_cache
