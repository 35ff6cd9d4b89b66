"""Fuzzing every reader of a stranger's files: each damaged file reads, or fails with our clear error.

For each reader a valid small file is written, then hypothesis damages it (flipped bytes, cut tails,
bytes inserted, a file of random bytes; for config.json, fields given random JSON values). Every case
must end in a normal result or in the reader's own exception family, naming the file
(``CheckpointError`` for weight files, ``ConfigError`` for config.json, ``TokenizerError`` for
tokenizer.json): never another exception, a crash or a hang. Budgets are fixed and the runs are
derandomized, so CI runs the same cases each time; the counts are printed.
The readers are numpy / h5py / msgpack / tokenizers code, the same on every backend: the suite runs
in the torch run of `make test`.
"""

import json
import os
import shutil
import tempfile

import keras
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz suite needs hypothesis (backends/test.txt)")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from keras_tfm.checkpoints.errors import CheckpointError  # noqa: E402
from keras_tfm.checkpoints.formats import FORMATS, open_file  # noqa: E402

pytestmark = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="the readers are the same on every backend: fuzzed in the torch run")



def fuzz(cases):
    return settings(max_examples=cases, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@st.composite
def damaged(draw, original):
    """``original`` bytes with one kind of damage."""
    kind = draw(st.sampled_from(["flip", "cut", "insert", "random", "header"]))
    data = bytearray(original)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
    elif kind == "cut":
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif kind == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "random":
        data = bytearray(draw(st.binary(min_size=0, max_size=512)))
    else:  # the first bytes, where every format keeps its header
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, min(len(data), 160) - 1))
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _tensors():
    rng = np.random.default_rng(0)
    return {"embeddings.word_embeddings.weight": rng.standard_normal((7, 4)).astype("float32"),
            "encoder.layer.0.output.dense.bias": rng.standard_normal((4,)).astype("float32"),
            "pooler.dense.weight": rng.standard_normal((4, 4)).astype("float32")}


def _valid_file(fmt):
    folder = tempfile.mkdtemp()
    tensors = _tensors()
    FORMATS[fmt].writer(tensors, list(tensors), os.path.join(folder, FORMATS[fmt].single))
    with open(os.path.join(folder, FORMATS[fmt].single), "rb") as f:
        data = f.read()
    shutil.rmtree(folder)
    return data


def _read_all(path, fmt):
    reader = open_file(path, fmt)
    try:
        for name in list(reader.keys()):
            shape, dtype = reader.info(name)
            value = np.asarray(reader.get(name))
            assert tuple(value.shape) == tuple(shape), f"{name}: info says {shape}, get gives {value.shape}"
    finally:
        reader.close()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_damaged_weight_files_read_or_raise_checkpoint_error(fmt, tmp_path):
    original = _valid_file(fmt)
    path = str(tmp_path / FORMATS[fmt].single)
    outcomes = {"read": 0, "CheckpointError": 0}

    @fuzz(400)
    @given(damaged(original))
    def case(data):
        with open(path, "wb") as f:
            f.write(data)
        try:
            _read_all(path, fmt)
            outcomes["read"] += 1
        except CheckpointError as error:
            assert FORMATS[fmt].single in str(error), f"the error does not name the file: {error}"
            outcomes["CheckpointError"] += 1

    case()
    print(f"{fmt}: {sum(outcomes.values())} damaged files: {outcomes}")
    assert outcomes["CheckpointError"] > 0


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
BERT_FIELDS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "max_position_embeddings", "type_vocab_size", "id2label", "label2id", "hidden_act",
               "layer_norm_eps", "pad_token_id", "model_type", "architectures", "num_labels"]


@pytest.mark.slow
def test_config_json_with_random_fields_loads_or_raises_config_error(tmp_path):
    import keras_tfm
    from keras_tfm import ConfigError
    from keras_tfm.config_checks import estimated_parameters

    base = {"model_type": "bert", "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64}
    outcomes = {"loaded": 0, "ConfigError": 0}

    @fuzz(300)
    @given(st.dictionaries(st.sampled_from(BERT_FIELDS), JSON_VALUES, min_size=1, max_size=3))
    @example({"hidden_size": 1})  # not a multiple of the 4 heads
    @example({"vocab_size": 1})  # the model's build pass fed it ids past its vocabulary
    def case(fields):
        (tmp_path / "config.json").write_text(json.dumps({**base, **fields}))
        try:
            config = keras_tfm.AutoConfig.from_pretrained(tmp_path)
            if estimated_parameters(config.to_dict()) < 2_000_000:  # a small config that loads builds its model
                keras_tfm.AutoModel.from_config(config)
            outcomes["loaded"] += 1
        except ConfigError as error:
            assert "config.json" in str(error), f"the error does not name the file: {error}"
            outcomes["ConfigError"] += 1

    case()
    print(f"config.json: {sum(outcomes.values())} random field values: {outcomes}")
    assert outcomes["ConfigError"] > 0


@pytest.mark.slow
def test_damaged_tokenizer_json_loads_or_raises_tokenizer_error(tmp_path):
    import keras_tfm
    from keras_tfm import TokenizerError
    from tests.conftest import minilm_dir

    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(minilm_dir(), name), tmp_path)
    with open(os.path.join(minilm_dir(), "tokenizer.json"), "rb") as f:
        original = f.read()
    # a tokenizer.json of 700 kB: damage the first 4 kB (model type, normalizer, pre-tokenizer, added tokens)
    head, tail = original[:4096], original[4096:]
    outcomes = {"loaded": 0, "TokenizerError": 0}

    @fuzz(200)
    @given(damaged(head))
    def case(data):
        (tmp_path / "tokenizer.json").write_bytes(data + tail)
        try:
            keras_tfm.AutoTokenizer.from_pretrained(tmp_path)("a short sentence")
            outcomes["loaded"] += 1
        except TokenizerError as error:
            assert "tokenizer.json" in str(error), f"the error does not name the file: {error}"
            outcomes["TokenizerError"] += 1

    case()
    print(f"tokenizer.json: {sum(outcomes.values())} damaged files: {outcomes}")
    assert outcomes["TokenizerError"] > 0
