"""layers.resize against torch.nn.functional.interpolate, every mode, both layouts."""

import itertools

import numpy as np
import pytest
import torch

from keras_tfm.layers.resize import interpolation_matrix, resize
from tests.model_tester import to_np

CASES = [("nearest", False), ("nearest-exact", False), ("bilinear", False), ("bilinear", True), ("bicubic", False),
         ("bicubic", True)]


@pytest.mark.parametrize("mode,align_corners", CASES)
def test_resize_matches_torch_interpolate(mode, align_corners):
    rng = np.random.RandomState(0)
    kwargs = {} if mode.startswith("nearest") else {"align_corners": align_corners}
    for in_size, out_size in itertools.product([1, 3, 7], [1, 2, 5, 14]):
        x = rng.randn(2, 3, in_size, in_size + 1).astype("float32")
        size = (out_size, out_size + 2)
        expected = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode=mode, **kwargs).numpy()
        first = to_np(resize(x, size, mode, align_corners, data_format="channels_first"))
        last = to_np(resize(x.transpose(0, 2, 3, 1), size, mode, align_corners, data_format="channels_last"))
        np.testing.assert_allclose(first, expected, atol=1e-5, err_msg=f"{in_size}->{out_size}")
        np.testing.assert_allclose(last.transpose(0, 3, 1, 2), expected, atol=1e-5, err_msg=f"{in_size}->{out_size}")


def test_interpolation_matrix_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown resize mode 'area'"):
        interpolation_matrix(4, 8, "area")
    with pytest.raises(ValueError, match="size 0"):
        interpolation_matrix(4, 0)
