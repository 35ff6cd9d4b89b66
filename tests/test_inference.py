"""compiled_forward: the compiled forward pass equals the eager model and does not retrace."""

import functools

import numpy as np
import pytest

import keras_tfm
from keras_tfm import backend
from keras_tfm.inference import compiled_forward, tune_allocator


@pytest.fixture(scope="module")
def tiny_bert():
    config = keras_tfm.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37)
    return keras_tfm.BertModel.from_config(config)


@pytest.fixture(scope="module")
def forward(tiny_bert):
    return compiled_forward(tiny_bert, tune_malloc=False)  # no process-wide malloc change in the test suite


def _inputs(batch, length, seed=0):
    rs = np.random.RandomState(seed)
    ids = rs.randint(1, 99, (batch, length)).astype("int32")
    mask = np.ones_like(ids)
    mask[0, length // 2:] = 0  # padding in the first row
    return ids, mask


def _assert_close(got, want, atol=1e-5):
    got, want = backend.to_numpy(got), backend.to_numpy(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=atol, rtol=0)


@pytest.mark.parametrize("shape", [(2, 7), (3, 12)])
@pytest.mark.parametrize("with_mask", [True, False])
def test_compiled_equals_eager(tiny_bert, forward, shape, with_mask):
    ids, mask = _inputs(*shape)
    kwargs = {"input_ids": ids, "attention_mask": mask} if with_mask else {"input_ids": ids}
    got = forward(**kwargs)
    with backend.inference_mode():
        want = tiny_bert(**kwargs)
    assert type(got) is type(want)
    assert list(got) == list(want)
    _assert_close(got.last_hidden_state, want.last_hidden_state)
    _assert_close(got.pooler_output, want.pooler_output)


def test_mask_of_ones_equals_no_mask(tiny_bert, forward):
    ids, _ = _inputs(2, 7)
    ones = np.ones_like(ids)
    got = forward(input_ids=ids, attention_mask=ones)
    with backend.inference_mode():
        want = tiny_bert(input_ids=ids, attention_mask=ones)
    _assert_close(got.last_hidden_state, want.last_hidden_state)


def test_same_shape_compiles_once(tiny_bert, forward, monkeypatch):
    ids, mask = _inputs(2, 7, seed=1)
    for _ in range(2):  # torch traces at the second call of a shape
        forward(input_ids=ids, attention_mask=mask)
    compiled = dict(forward._compiled)
    fn = forward.compiled_function(input_ids=ids, attention_mask=mask)
    python_calls = []
    original_call = tiny_bert.call

    @functools.wraps(original_call)
    def counted_call(*args, **kwargs):
        python_calls.append(1)
        return original_call(*args, **kwargs)

    monkeypatch.setattr(tiny_bert, "call", counted_call)
    for seed in (2, 3):  # new values, same shape: the compiled program runs, not the Python model
        got = forward(input_ids=_inputs(2, 7, seed=seed)[0], attention_mask=mask)
    monkeypatch.undo()
    assert python_calls == []
    assert forward._compiled == compiled
    assert forward.compiled_function(input_ids=ids, attention_mask=mask) is fn
    with backend.inference_mode():
        want = tiny_bert(input_ids=_inputs(2, 7, seed=3)[0], attention_mask=mask)
    _assert_close(got.last_hidden_state, want.last_hidden_state)  # the replay reads its new inputs
    forward(input_ids=_inputs(2, 9)[0])  # a new shape: a new compiled function
    assert len(forward._compiled) == len(compiled) + 1


def test_static_arguments_and_tuple_output(tiny_bert, forward):
    ids, mask = _inputs(2, 7)
    got = forward(ids, attention_mask=mask, output_hidden_states=True)
    with backend.inference_mode():
        want = tiny_bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert len(got.hidden_states) == len(want.hidden_states) == 3
    for g, w in zip(got.hidden_states, want.hidden_states):
        _assert_close(g, w)
    as_tuple = forward(input_ids=ids, attention_mask=mask, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    _assert_close(as_tuple[0], want.last_hidden_state)


def test_new_weights_are_used_without_recompiling(tiny_bert, forward):
    ids, mask = _inputs(2, 7)
    compiled = dict(forward._compiled)
    before = backend.to_numpy(forward(input_ids=ids, attention_mask=mask).last_hidden_state)
    variable = tiny_bert.pooler.kernel
    old = backend.to_numpy(variable.value).copy()
    try:
        variable.assign(old * 2.0)
        pooled = forward(input_ids=ids, attention_mask=mask).pooler_output
        with backend.inference_mode():
            _assert_close(pooled, tiny_bert(input_ids=ids, attention_mask=mask).pooler_output)
        _assert_close(forward(input_ids=ids, attention_mask=mask).last_hidden_state, before)
    finally:
        variable.assign(old)
    assert forward._compiled == compiled


def test_bad_arguments(forward):
    ids, _ = _inputs(2, 7)
    with pytest.raises(TypeError, match="compiled_forward"):
        forward(input_ids=ids, no_such_input=ids)
    with pytest.raises(ValueError, match="inference only"):
        forward(input_ids=ids, training=True)


def test_tune_allocator_is_safe_to_call():
    assert tune_allocator.__module__ == "keras_tfm.inference"
    assert isinstance(tune_allocator(mmap_threshold=32 << 20, trim_threshold=64 << 20), bool)
    assert isinstance(tune_allocator(), bool)  # applied again: cheap, and TF's runtime may have reset it
