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


def run_cases(label, cases, strategy, attempt, error, names, examples=()):
    """Runs ``attempt(case)`` on ``cases`` drawn cases (and the ``examples``): each must return, or raise ``error``
    with ``names`` in its message. Prints and returns the counts; some case must have raised."""
    outcomes = {"read": 0, error.__name__: 0}

    def case(data):
        try:
            attempt(data)
            outcomes["read"] += 1
        except error as raised:
            assert names in str(raised), f"{label}: the error does not name {names}: {raised}"
            outcomes[error.__name__] += 1

    for value in examples:
        case = example(value)(case)
    fuzz(cases)(given(strategy)(case))()
    print(f"{label}: {sum(outcomes.values())} cases: {outcomes}")
    assert outcomes[error.__name__] > 0, f"{label}: no case raised {error.__name__}"
    return outcomes


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
    path = str(tmp_path / FORMATS[fmt].single)

    def attempt(data):
        with open(path, "wb") as f:
            f.write(data)
        _read_all(path, fmt)

    run_cases(fmt, 400, damaged(_valid_file(fmt)), attempt, CheckpointError, FORMATS[fmt].single)


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

    def attempt(fields):
        (tmp_path / "config.json").write_text(json.dumps({**base, **fields}))
        config = keras_tfm.AutoConfig.from_pretrained(tmp_path)
        if estimated_parameters(config.to_dict()) < 2_000_000:  # a small config that loads builds its model
            keras_tfm.AutoModel.from_config(config)

    run_cases("config.json", 300, st.dictionaries(st.sampled_from(BERT_FIELDS), JSON_VALUES, min_size=1, max_size=3),
              attempt, ConfigError, "config.json",
              examples=[{"hidden_size": 1},  # not a multiple of the 4 heads
                        {"vocab_size": 1}])  # the model's build pass fed it ids past its vocabulary


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

    def attempt(data):
        (tmp_path / "tokenizer.json").write_bytes(data + tail)
        keras_tfm.AutoTokenizer.from_pretrained(tmp_path)("a short sentence")

    run_cases("tokenizer.json", 200, damaged(head), attempt, TokenizerError, "tokenizer.json")


def _vocabulary_folder(folder, kind):
    """A tokenizer folder with no tokenizer.json: the tokenizer is built from its vocabulary files."""
    from tests.conftest import minilm_dir
    from tests.tokenizer_folders import train_byte_level_bpe, train_t5_spiece

    folder.mkdir()
    if kind == "wordpiece":
        for name in ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(os.path.join(minilm_dir(), name), folder)
    elif kind == "bpe":
        train_byte_level_bpe(vocab_size=300).save_model(str(folder))
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}))
    else:
        train_t5_spiece(folder)
        (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    return folder


VOCABULARY_FILES = {"vocab.txt": "wordpiece", "vocab.json": "bpe", "merges.txt": "bpe", "spiece.model": "t5"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VOCABULARY_FILES))
def test_damaged_vocabulary_files_load_or_raise_tokenizer_error(name, tmp_path):
    import keras_tfm
    from keras_tfm import TokenizerError

    folder = _vocabulary_folder(tmp_path / "tokenizer", VOCABULARY_FILES[name])
    original = (folder / name).read_bytes()
    head, tail = original[:4096], original[4096:]  # vocab.txt has 30522 lines: damage its first 4 kB

    def attempt(data):
        (folder / name).write_bytes(data + tail)
        keras_tfm.AutoTokenizer.from_pretrained(folder)("a short sentence, über café")

    run_cases(name, 150, damaged(head), attempt, TokenizerError, name)


TOKENIZER_FIELDS = ["tokenizer_class", "do_lower_case", "model_max_length", "unk_token", "cls_token", "sep_token",
                    "pad_token", "mask_token", "added_tokens_decoder", "extra_special_tokens", "padding_side",
                    "truncation_side", "strip_accents", "model_input_names", "clean_up_tokenization_spaces"]


@pytest.mark.slow
def test_tokenizer_config_with_random_fields_loads_or_raises_tokenizer_error(tmp_path):
    import keras_tfm
    from keras_tfm import TokenizerError

    folder = _vocabulary_folder(tmp_path / "tokenizer", "wordpiece")
    base = json.loads((folder / "tokenizer_config.json").read_text())

    def attempt(fields):
        (folder / "tokenizer_config.json").write_text(json.dumps({**base, **fields}))
        keras_tfm.AutoTokenizer.from_pretrained(folder)(["a short sentence", "and a longer second one"], padding=True)

    run_cases("tokenizer_config.json", 200, st.dictionaries(st.sampled_from(TOKENIZER_FIELDS), JSON_VALUES,
                                                            min_size=1, max_size=3),
              attempt, TokenizerError, "tokenizer_config.json")


@pytest.mark.slow
def test_shard_index_with_random_fields_reads_or_raises_checkpoint_error(tmp_path):
    tensors = _tensors()
    FORMATS["safetensors"].writer(tensors, list(tensors), str(tmp_path / "model-00001-of-00001.safetensors"))
    shard_names = st.sampled_from(["model-00001-of-00001.safetensors", "model.safetensors", "", "..", "../x",
                                   "/etc/passwd", "sub/model.safetensors"])
    weight_map = st.dictionaries(st.sampled_from(list(tensors)) | st.text(max_size=6), shard_names | JSON_VALUES,
                                 max_size=4)
    index = st.fixed_dictionaries({"weight_map": weight_map | JSON_VALUES}, optional={"metadata": JSON_VALUES})

    def attempt(value):
        from keras_tfm.checkpoints.formats import open_checkpoint

        (tmp_path / "model.safetensors.index.json").write_text(json.dumps(value))
        checkpoint = open_checkpoint(tmp_path)
        for name in list(checkpoint.keys()):
            np.asarray(checkpoint.get(name))

    run_cases("model.safetensors.index.json", 200, index, attempt, CheckpointError, "model.safetensors.index.json")


IMAGE_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_damaged_images_load_or_raise_image_file_error(fmt, tmp_path):
    import io

    from PIL import Image

    from keras_tfm.processing.image_processing_vit import ViTImageProcessor
    from keras_tfm import ImageFileError
    from keras_tfm.processing.image_utils import load_image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buffer, fmt)
    path = str(tmp_path / f"cat.{fmt.lower()}")
    processor = ViTImageProcessor(size={"height": 16, "width": 16})

    def attempt(data):
        with open(path, "wb") as f:
            f.write(data)
        processor(load_image(path), return_tensors="np")

    run_cases(fmt, 150, damaged(buffer.getvalue()), attempt, ImageFileError, path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_damaged_audio_loads_or_raises_value_error(fmt, subtype, tmp_path):
    import io

    import soundfile

    from keras_tfm.processing.audio_utils import load_audio

    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(np.arange(1600) / 5)).astype("float32"), 8000, format=fmt, subtype=subtype)
    path = str(tmp_path / f"clip.{fmt.lower()}")

    def attempt(data):
        with open(path, "wb") as f:
            f.write(data)
        load_audio(path, target_rate=16000)

    run_cases(fmt, 150, damaged(buffer.getvalue()), attempt, ValueError, path)
