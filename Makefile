# `make demo` and `make test` work from a fresh clone: they create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS := torch tensorflow jax
REQS := backends/torch.txt backends/tensorflow.txt backends/jax.txt backends/test.txt

.PHONY: setup demo test test-torch test-tensorflow test-jax test-huge bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(addprefix -r ,$(REQS)) -e .
	touch $@

# The quick tour notebook through nbclient on KERAS_BACKEND (default torch): its text on stdout,
# its pictures in demo-pictures/.
demo: setup
	$(PY) notebooks/run.py notebooks/quicktour.ipynb --pictures demo-pictures

# The three backends run at once (backends/run_all.sh); `make test-torch` etc. run one.
test: setup
	PY=$(PY) backends/run_all.sh

# Explicit targets: make applies no pattern rule to a .PHONY target (test-% made `make test-torch` a no-op).
test-torch test-tensorflow test-jax: setup
	PY=$(PY) backends/run_suite.sh $(@:test-%=%)

# Not in `make test`: a checkpoint of 55% of the machine's memory (~13 GB on 24 GiB) written to a temporary
# folder and loaded on each backend in turn; it needs that much free memory and disk.
test-huge: setup
	for backend in $(BACKENDS); do KERAS_TFM_HUGE_TESTS=1 KERAS_BACKEND=$$backend HF_HUB_OFFLINE=1 \
		TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -q -s -p no:cacheprovider tests/test_huge_checkpoint.py || exit 1; done

bench: setup
	$(PY) -m pip install -q --disable-pip-version-check keras-hub
	$(PY) benchmarks/bench_encoder.py

clean:
	rm -rf $(VENV) .pytest_cache demo-pictures
