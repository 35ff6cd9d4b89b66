"""The backend shim: models take numpy and native tensors, and give native tensors back."""

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import backend
from keras_tfm.backend.tensors import to_framework_tensor
from tests.model_tester import make_inputs
from tests.test_bert import tiny_bert_config

NATIVE = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}


@pytest.fixture(scope="module")
def model():
    config = keras_tfm.AutoConfig.for_model(**tiny_bert_config().to_dict())
    return keras_tfm.BertForSequenceClassification.from_config(config)


def test_backend_is_picked_from_keras():
    assert backend.BACKEND == keras.backend.backend()


def test_inputs_numpy_lists_and_native_tensors_agree(model):
    inputs = make_inputs(99, True)
    from_numpy = backend.to_numpy(model(**inputs).logits)
    native = {k: to_framework_tensor(v, NATIVE[backend.BACKEND]) for k, v in inputs.items()}
    out = model(**native).logits
    assert backend.is_tensor(out)
    np.testing.assert_allclose(backend.to_numpy(out), from_numpy, atol=1e-6)
    as_lists = {k: v.tolist() for k, v in inputs.items()}
    np.testing.assert_allclose(backend.to_numpy(model(**as_lists).logits), from_numpy, atol=1e-6)


@pytest.mark.parametrize("framework", ["pt", "tf", "jax", "np"])
def test_to_framework_tensor(framework):
    t = to_framework_tensor(np.arange(6).reshape(2, 3), framework)
    assert type(t).__module__.split(".")[0] in {"pt": "torch", "tf": "tensorflow", "jax": "jaxlib", "np": "numpy"}[framework] or (
        framework == "jax" and "jax" in type(t).__module__
    )
    with pytest.raises(ValueError, match="return_tensors"):
        to_framework_tensor(np.zeros(2), "mx")


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.nn.Module behaviour")
def test_torch_model_is_an_nn_module(model):
    import torch

    assert isinstance(model, torch.nn.Module)
    params = list(model.parameters())
    # Keras dropout seed states are non-trainable tensors too; HF counts the trainable ones.
    assert sum(p.numel() for p in params if p.requires_grad) == model.num_parameters()
    model.eval()
    batch = {k: torch.tensor(v) for k, v in make_inputs(99, True).items()}
    with torch.no_grad():
        out = model(**batch)
    assert isinstance(out.logits, torch.Tensor) and not out.logits.requires_grad
    probs = torch.nn.functional.softmax(out.logits, dim=-1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    # gradients flow to the parameters as in any torch module
    out = model(**batch)
    out.logits.sum().backward()
    assert any(p.grad is not None for p in model.parameters())


def test_output_object_access(model):
    out = model(**make_inputs(99, True), labels=np.array([0, 1, 1]))
    assert list(out.keys()) == ["loss", "logits"]
    assert out["logits"] is out.logits is out[1] is out.to_tuple()[1]
    assert out.hidden_states is None
    with pytest.raises(AttributeError):
        out.not_a_field


@pytest.fixture
def two_torch_threads():
    """torch at 2 intra-op threads (the test suite runs it at 1), where decode_matmul splits its products."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((1, 48), (48, 96)),      # a Dense layer on one token: column slices
    ((3, 1, 48), (48, 37)),   # three tokens, an odd number of columns: the last one on its own
    ((101, 16), (16, 1)),     # a tied head against one hidden state, an odd number of rows
    ((101, 16), (16, 5)),
    ((40, 16), (16, 8)),      # many rows against few columns: row slices
    ((40, 16), (16, 24)),     # neither side few: the plain matmul
])
def test_decode_matmul_is_the_matmul(a_shape, b_shape, two_torch_threads):
    rng = np.random.RandomState(0)
    a, b = rng.randn(*a_shape).astype("float32"), rng.randn(*b_shape).astype("float32")
    with backend.inference_mode():
        out = backend.decode_matmul(keras.ops.convert_to_tensor(a), keras.ops.convert_to_tensor(b))
    np.testing.assert_allclose(backend.to_numpy(out), a @ b, rtol=1e-5, atol=1e-5)


def test_decode_matmul_in_bfloat16_is_keras_matmul(two_torch_threads):
    """Only float32 products are split on torch (split bf16 products were slower): bf16 gives Keras' matmul exactly."""
    rng = np.random.RandomState(0)
    a = keras.ops.cast(rng.randn(2, 48), "bfloat16")
    b = keras.ops.cast(rng.randn(48, 96), "bfloat16")
    with backend.inference_mode():
        out, expected = backend.decode_matmul(a, b), keras.ops.matmul(a, b)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_array_equal(backend.to_numpy(keras.ops.cast(out, "float32")),
                                  backend.to_numpy(keras.ops.cast(expected, "float32")))
