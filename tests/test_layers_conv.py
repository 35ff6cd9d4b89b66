"""The conv kit (layers/conv.py) against torch.nn: Conv2d and Conv1d (stride, padding, groups, dilation) and
BatchNorm2d in eval mode, through the conv2d / batch_norm conversion rules, on the current backend."""

import numpy as np
import pytest
import torch
from keras import ops

from keras_tfm.checkpoints.weight_map import CONV1D, CONV2D
from keras_tfm.layers import (
    BatchNorm,
    Conv1D,
    Conv2D,
    FrozenBatchNorm,
    MaxPool2D,
    conv_batch_norm,
    flatten_spatial,
    global_average_pool,
    to_channels_first,
    to_internal,
    unflatten_spatial,
)

X = np.random.default_rng(0).standard_normal((2, 6, 11, 9)).astype("float32")


def run(layer, x=X):
    return ops.convert_to_numpy(to_channels_first(layer(to_internal(ops.convert_to_tensor(x)))))


@pytest.mark.parametrize("groups,stride,padding,dilation", [(1, 2, 3, 1), (3, 1, 1, 1), (6, 2, 0, 1), (1, 1, 2, 2)])
def test_conv2d_matches_torch(groups, stride, padding, dilation):
    ref = torch.nn.Conv2d(6, 12, 3, stride=stride, padding=padding, groups=groups, dilation=dilation)
    conv = Conv2D(12, 3, strides=stride, padding=padding, groups=groups, dilation=dilation)
    run(conv)
    conv.kernel.assign(CONV2D.to_keras(ref.weight.detach().numpy()))
    conv.bias.assign(ref.bias.detach().numpy())
    expected = ref(torch.tensor(X)).detach().numpy()
    out = run(conv)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_array_equal(CONV2D.to_hf(CONV2D.to_keras(ref.weight.detach().numpy())), ref.weight.detach())


@pytest.mark.parametrize("kernel,groups,stride,padding,dilation", [(10, 1, 5, 0, 1), (7, 3, 2, 3, 1), (5, 6, 1, 2, 2)])
def test_conv1d_matches_torch(kernel, groups, stride, padding, dilation):
    """Wav2Vec2's feature encoder (wide kernels, strides) and positional conv (grouped, padded) shapes."""
    signal = X[:, :, 0, :].repeat(4, axis=-1)  # (B, C, T)
    ref = torch.nn.Conv1d(6, 12, kernel, stride=stride, padding=padding, groups=groups, dilation=dilation)
    conv = Conv1D(12, kernel, strides=stride, padding=padding, groups=groups, dilation=dilation)
    run(conv, signal)
    conv.kernel.assign(CONV1D.to_keras(ref.weight.detach().numpy()))
    conv.bias.assign(ref.bias.detach().numpy())
    expected = ref(torch.tensor(signal)).detach().numpy()
    out = run(conv, signal)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5)
    internal_shape = tuple(ops.shape(to_internal(ops.convert_to_tensor(signal))))
    assert conv.compute_output_shape(internal_shape) == tuple(ops.shape(to_internal(ops.convert_to_tensor(expected))))
    np.testing.assert_array_equal(CONV1D.to_hf(CONV1D.to_keras(ref.weight.detach().numpy())), ref.weight.detach())


@pytest.mark.parametrize("size,stride,padding", [(3, 2, 1), (2, None, 0), (3, 1, 1)])
def test_max_pool_matches_torch(size, stride, padding):
    x = X - 10.0  # all negative: a zero-padded pool would differ at the borders
    expected = torch.nn.MaxPool2d(size, stride=stride, padding=padding)(torch.tensor(x)).numpy()
    pool = MaxPool2D(size, strides=stride, padding=padding)
    np.testing.assert_array_equal(run(pool, x), expected)
    assert pool.compute_output_shape(tuple(ops.shape(to_internal(ops.convert_to_tensor(x))))) == tuple(
        ops.shape(to_internal(ops.convert_to_tensor(expected))))


def test_global_average_pool_matches_torch():
    expected = torch.nn.AdaptiveAvgPool2d((1, 1))(torch.tensor(X)).numpy()
    out = ops.convert_to_numpy(to_channels_first(global_average_pool(to_internal(ops.convert_to_tensor(X)))))
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_conv2d_groups_must_divide():
    with pytest.raises(ValueError, match="groups"):
        run(Conv2D(12, 3, groups=4))


@pytest.mark.parametrize("layer_class", [BatchNorm, FrozenBatchNorm])
def test_batch_norm_matches_torch_eval(layer_class):
    ref = torch.nn.BatchNorm2d(6).eval()
    rng = np.random.default_rng(1)
    stats = {name: rng.uniform(0.5, 1.5, 6).astype("float32") for name in ("weight", "bias", "running_mean", "running_var")}
    ref.load_state_dict({**{k: torch.tensor(v) for k, v in stats.items()}, "num_batches_tracked": torch.tensor(0)})
    norm = layer_class()
    run(norm)
    for variable, name in [(norm.gamma, "weight"), (norm.beta, "bias"), (norm.moving_mean, "running_mean"),
                           (norm.moving_variance, "running_var")]:
        variable.assign(stats[name])
    np.testing.assert_allclose(run(norm), ref(torch.tensor(X)).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("layer_class", [BatchNorm, FrozenBatchNorm])
def test_conv_batch_norm_folds_at_inference(layer_class):
    torch.manual_seed(0)
    ref_conv, ref_norm = torch.nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(8).eval()
    for tensor in (ref_norm.weight, ref_norm.bias, ref_norm.running_mean):
        tensor.data = torch.rand(8) - 0.5
    ref_norm.running_var.data = torch.rand(8) + 0.5
    conv, norm = Conv2D(8, 3, strides=2, padding=1, use_bias=False), layer_class()
    x = to_internal(ops.convert_to_tensor(X))
    norm(conv(x))
    conv.kernel.assign(CONV2D.to_keras(ref_conv.weight.detach().numpy()))
    for variable, tensor in [(norm.gamma, ref_norm.weight), (norm.beta, ref_norm.bias),
                             (norm.moving_mean, ref_norm.running_mean), (norm.moving_variance, ref_norm.running_var)]:
        variable.assign(tensor.detach().numpy())
    expected = ref_norm(ref_conv(torch.tensor(X))).detach().numpy()
    np.testing.assert_allclose(ops.convert_to_numpy(to_channels_first(conv_batch_norm(conv, norm, x))), expected,
                               atol=1e-5)
    # Training: batch statistics, unless the norm is frozen.
    trained = ops.convert_to_numpy(conv_batch_norm(conv, norm, x, training=True))
    if layer_class is FrozenBatchNorm:
        np.testing.assert_allclose(ops.convert_to_numpy(to_channels_first(trained)), expected, atol=1e-5)
    else:
        np.testing.assert_allclose(np.moveaxis(trained, 1 if trained.shape[1] == 8 else -1, 0).std(axis=(1, 2, 3)),
                                   np.abs(norm.gamma.numpy()), rtol=1e-2)


def test_frozen_batch_norm_ignores_training():
    norm = FrozenBatchNorm()
    x = to_internal(ops.convert_to_tensor(X))
    np.testing.assert_array_equal(ops.convert_to_numpy(norm(x, training=True)), ops.convert_to_numpy(norm(x)))
    assert not norm.trainable_weights


def test_flatten_round_trip_matches_torch_order():
    x = to_internal(ops.convert_to_tensor(X))
    tokens = ops.convert_to_numpy(flatten_spatial(x))
    np.testing.assert_array_equal(tokens, torch.tensor(X).flatten(2).transpose(1, 2).numpy())
    back = ops.convert_to_numpy(to_channels_first(unflatten_spatial(ops.convert_to_tensor(tokens), 11, 9)))
    np.testing.assert_array_equal(back, X)
