"""layers.resize against torch.nn.functional.interpolate, every mode, both layouts."""

import itertools

import numpy as np
import pytest
import torch

from keras_tfm.layers.resize import downsample_mask, interpolation_matrix, resize, resize_per_sample
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


@pytest.mark.parametrize("align_corners", [True, False])
def test_resize_per_sample_matches_torch_interpolate_and_pad(align_corners):
    """Each sample's grid resized to its own size then zero-padded (ViLT's position embeddings), with the
    sizes given as tensors."""
    grid = np.random.RandomState(1).randn(4, 3, 5).astype("float32")  # (h, w, C)
    heights, widths, size = np.array([4, 1, 7, 6]), np.array([3, 6, 2, 1]), (7, 6)
    ours = to_np(resize_per_sample(grid, heights, widths, size, align_corners=align_corners))
    channels_first = torch.tensor(grid).permute(2, 0, 1)[None]
    for b, (h, w) in enumerate(zip(heights, widths)):
        expected = torch.nn.functional.interpolate(channels_first, size=(int(h), int(w)), mode="bilinear",
                                                   align_corners=align_corners)
        expected = torch.nn.functional.pad(expected, (0, size[1] - w, 0, size[0] - h))[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(ours[b], expected, atol=1e-5, err_msg=f"sample {b}: {h}x{w}")


def test_downsample_mask_is_torch_nearest():
    mask = np.zeros((2, 12, 10), "int64")
    mask[0, :7, :9] = 1
    mask[1, :12, :3] = 1
    expected = torch.nn.functional.interpolate(torch.tensor(mask[:, None]).float(), size=(4, 3))[:, 0].bool().numpy()
    np.testing.assert_array_equal(to_np(downsample_mask(mask, (4, 3))), expected)
