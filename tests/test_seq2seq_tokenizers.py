"""Sequence-to-sequence tokenizers (T5, mT5, BART) and targets (``text_target=``) vs transformers 5.

T5 is a SentencePiece Unigram model trained here with ``sentencepiece`` (T5's ids: ``<pad>`` 0,
``</s>`` 1, ``<unk>`` 2, no ``<s>``). It is read four ways, each compared with
``transformers.AutoTokenizer`` on the same folder:

- ``spiece.model`` alone with a config.json (model_type t5, and mt5);
- ``spiece.model`` with a tokenizer_config.json in transformers 4's layout (``extra_ids`` 10);
- the tokenizer.json transformers 5 writes;
- a tokenizer.json in transformers 4's layout (Sequence[Precompiled, Strip, Replace] normalizer,
  Metaspace pre-tokenizer), which transformers 5 rebuilds as its T5Tokenizer.

BART is a tiny byte-level BPE trained here with ``tokenizers``: vocab.json + merges.txt (read
by model_type, and by tokenizer_class with BART's ``<mask>`` that strips the space before it) and
the tokenizer.json transformers writes, and the hub's layout for facebook/bart-* (tokenizer.json
with ``<mask>`` stripping left, beside vocab.json + merges.txt, and a config.json).
"""

import json
import sys

import numpy as np
import pytest
import transformers
from tokenizers import processors

from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.processing import AutoTokenizer
from tests.test_tokenizers import BATCH_SETTINGS, PAIR_SETTINGS, STRINGS, assert_same_call, plain
from tests.tokenizer_folders import (
    corpus,
    save_bart_tokenizer,
    save_t5_tokenizer,
    train_byte_level_bpe,
    train_t5_spiece,
)

SEQ2SEQ_STRINGS = [
    "summarize: The quick brown fox jumps over the lazy dog.",
    "translate English to German: How old are you?",
    "The <extra_id_0> walks in <extra_id_1> park",
    "<extra_id_0> cute dog <extra_id_1> the <extra_id_2></s>",
    "ends with eos</s>",
    "<pad>padded<pad> <unk> </s>",
    "no<extra_id_5>space",
    "  many   spaces\there\n\nand newlines  ",
    "ﬁne ① Ⅻ x² naïve café\u00a0nbsp zero\u200bwidth",
    "Hello <mask> world, <mask>!",
    "hello , world . isn ' t it ?",
]
TEXTS = SEQ2SEQ_STRINGS + STRINGS


def _write_json(path, value):
    path.write_text(json.dumps(value), encoding="utf-8")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq2seq_tokenizers")
    spiece = train_t5_spiece(root / "spm").read_bytes()
    dirs = {}

    def folder(name, files):
        path = root / name
        path.mkdir()
        (path / "spiece.model").write_bytes(spiece)
        for filename, value in files.items():
            _write_json(path / filename, value)
        dirs[name] = str(path)
        return path

    folder("t5-spiece", {"config.json": {"model_type": "t5"}})
    folder("mt5-spiece", {"config.json": {"model_type": "mt5"}})
    folder("t5-spiece-config", {"tokenizer_config.json": {
        "tokenizer_class": "T5Tokenizer", "extra_ids": 10, "model_max_length": 32, "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "legacy": True, "clean_up_tokenization_spaces": True,
        "additional_special_tokens": [f"<extra_id_{i}>" for i in range(10)]}})

    saved = root / "t5-tokenizer-json"
    transformers.AutoTokenizer.from_pretrained(dirs["t5-spiece"]).save_pretrained(str(saved))
    assert (saved / "tokenizer.json").exists() and not (saved / "spiece.model").exists()
    dirs["t5-tokenizer-json"] = str(saved)

    # transformers 4's T5 converter wrote this normalizer and pre-tokenizer.
    hf4 = root / "t5-hf4-layout"
    hf4.mkdir()
    spec = json.loads((saved / "tokenizer.json").read_text(encoding="utf-8"))
    spec["normalizer"] = {"type": "Sequence", "normalizers": [
        spec["normalizer"], {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]}
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    _write_json(hf4 / "tokenizer.json", spec)
    _write_json(hf4 / "tokenizer_config.json", {
        "tokenizer_class": "T5Tokenizer", "extra_ids": 100, "model_max_length": 512, "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "additional_special_tokens": [
            f"<extra_id_{i}>" for i in range(100)]})
    dirs["t5-hf4-layout"] = str(hf4)

    bpe = train_byte_level_bpe(500, corpus(seed=1) + STRINGS[:100])
    for name, files in [
        ("bart-vocab", {"config.json": {"model_type": "bart"}}),
        ("bart-vocab-config", {"tokenizer_config.json": {
            "tokenizer_class": "BartTokenizer", "model_max_length": 40, "clean_up_tokenization_spaces": True,
            "mask_token": {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "rstrip": False,
                           "normalized": False, "single_word": False, "special": True}}}),
    ]:
        path = root / name
        path.mkdir()
        bpe.save_model(str(path))
        for filename, value in files.items():
            _write_json(path / filename, value)
        dirs[name] = str(path)
    # As the hub's facebook/bart-* folders: tokenizer.json (RobertaProcessing, <mask> with lstrip)
    # beside vocab.json + merges.txt, a tokenizer_config.json with only model_max_length.
    hub = root / "bart-hub-layout"
    hub.mkdir()
    bpe.save_model(str(hub))
    bpe.post_processor = processors.RobertaProcessing(("</s>", bpe.token_to_id("</s>")),
                                                      ("<s>", bpe.token_to_id("<s>")))
    spec = json.loads(bpe.to_str())
    for token in spec["added_tokens"]:
        token["lstrip"] = token["content"] == "<mask>"
    _write_json(hub / "tokenizer.json", spec)
    _write_json(hub / "tokenizer_config.json", {"model_max_length": 1024})
    _write_json(hub / "config.json", {"model_type": "bart"})
    dirs["bart-hub-layout"] = str(hub)
    bart_saved = root / "bart-tokenizer-json"
    transformers.AutoTokenizer.from_pretrained(dirs["bart-vocab-config"]).save_pretrained(str(bart_saved))
    assert not (bart_saved / "vocab.json").exists()
    dirs["bart-tokenizer-json"] = str(bart_saved)
    return dirs


T5_CASES = ["t5-spiece", "mt5-spiece", "t5-spiece-config", "t5-tokenizer-json", "t5-hf4-layout"]
BART_CASES = ["bart-vocab", "bart-vocab-config", "bart-hub-layout", "bart-tokenizer-json"]
CASES = T5_CASES + BART_CASES


@pytest.fixture(scope="module")
def loaded(folders):
    return {name: (AutoTokenizer.from_pretrained(path), transformers.AutoTokenizer.from_pretrained(path))
            for name, path in folders.items()}


@pytest.fixture(params=CASES)
def pair(request, loaded):
    return loaded[request.param]


# ---------------------------------------------------------------------- encoding


def test_classes_and_vocabulary(loaded):
    for name, (ours, hf) in loaded.items():
        # transformers 5's BartTokenizer is its RobertaTokenizer.
        expected_classes = ("T5Tokenizer",) if name in T5_CASES else ("BartTokenizer", "RobertaTokenizer")
        assert ours.tokenizer_class in expected_classes and type(hf).__name__ in expected_classes, name
        assert ours.vocab_size == hf.vocab_size and len(ours) == len(hf), name
        assert ours.get_vocab() == hf.get_vocab(), name
        assert ours.special_tokens_map == hf.special_tokens_map, name
        # transformers 5 lists the model's control pieces (<pad>, </s>) among the extra special
        # tokens of a T5 read from spiece.model; the set of special tokens is the same.
        assert sorted(ours.all_special_tokens) == sorted(hf.all_special_tokens), name
        assert ours.all_special_ids == ours.convert_tokens_to_ids(ours.all_special_tokens)
        assert sorted(ours.all_special_ids) == sorted(hf.all_special_ids), name
        assert ours.model_max_length == hf.model_max_length, name
        assert ours.clean_up_tokenization_spaces == hf.clean_up_tokenization_spaces, name
        assert ours.model_input_names == hf.model_input_names == ["input_ids", "attention_mask"], name


def test_t5_special_tokens_and_sentinels(loaded):
    ours, hf = loaded["t5-spiece"]
    assert (ours.pad_token_id, ours.eos_token_id, ours.unk_token_id) == (0, 1, 2)
    assert ours.bos_token is None and ours.sep_token is None and ours.mask_token is None
    # The 100 sentinels close the vocabulary, <extra_id_0> last.
    assert ours.convert_tokens_to_ids("<extra_id_0>") == ours.vocab_size - 1 == 299
    assert ours.convert_tokens_to_ids("<extra_id_99>") == 200
    assert [t for t in ours.extra_special_tokens if "extra_id" in t] == [f"<extra_id_{i}>" for i in range(100)]
    assert ours("a b")["input_ids"][-1] == ours.eos_token_id
    config_ours, config_hf = loaded["t5-spiece-config"]
    assert config_ours.vocab_size == 210 and config_ours.convert_tokens_to_ids("<extra_id_0>") == 209
    assert config_ours.extra_special_tokens == config_hf.extra_special_tokens


def test_single_texts(pair):
    ours, hf = pair
    for i, text in enumerate(TEXTS):
        assert_same_call(ours, hf, text)
        assert_same_call(ours, hf, text, return_offsets_mapping=True, return_special_tokens_mask=True,
                         return_length=True, truncation=True, add_special_tokens=i % 3 != 0)


def test_batches(pair):
    ours, hf = pair
    for i, start in enumerate(range(0, len(TEXTS), 16)):
        batch = TEXTS[start:start + 16]
        assert_same_call(ours, hf, batch, **BATCH_SETTINGS[i % len(BATCH_SETTINGS)])
        assert_same_call(ours, hf, batch, return_tensors="np", padding="max_length", truncation=True, max_length=20)


def test_pairs(pair):
    ours, hf = pair
    pairs = list(zip(TEXTS, TEXTS[5:] + TEXTS[:5]))
    for i, (a, b) in enumerate(pairs[:120]):
        assert_same_call(ours, hf, a, b, **PAIR_SETTINGS[i % len(PAIR_SETTINGS)])
    firsts, seconds = (list(side) for side in zip(*pairs[:12]))
    assert_same_call(ours, hf, firsts, seconds, padding=True, truncation=True, max_length=18,
                     return_offsets_mapping=True)


def test_bart_mask_token(loaded):
    """BART's <mask> is never split; with lstrip (as bart-large saves it) it takes the space before it."""
    for name in BART_CASES:
        ours, hf = loaded[name]
        for text in ("Hello <mask> world", "Hello<mask>", "<mask> starts", "two <mask><mask> masks",
                     "no mask here"):
            got = assert_same_call(ours, hf, text, return_offsets_mapping=True)
            assert got["input_ids"].count(ours.mask_token_id) == text.count("<mask>"), (name, text)
    for name in ("bart-vocab-config", "bart-hub-layout"):
        ours, _ = loaded[name]
        with_space = ours("Hello <mask>", add_special_tokens=False)["input_ids"]
        assert with_space == ours("Hello<mask>", add_special_tokens=False)["input_ids"], name


# ---------------------------------------------------------------------- decoding


def test_decode(pair):
    ours, hf = pair
    ids = hf(TEXTS[:60], padding=True, truncation=True, max_length=24)["input_ids"]
    for skip in (False, True):
        for clean in (None, True, False):
            for row in ids:
                assert ours.decode(row, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) == hf.decode(
                    row, skip_special_tokens=skip, clean_up_tokenization_spaces=clean), (row, skip, clean)
        assert ours.batch_decode(ids, skip_special_tokens=skip) == hf.batch_decode(ids, skip_special_tokens=skip)
    import torch

    assert ours.batch_decode(torch.tensor(ids), skip_special_tokens=True) == hf.batch_decode(
        ids, skip_special_tokens=True)
    assert ours.batch_decode(np.zeros((0, 3), dtype=np.int64)) == hf.batch_decode([]) == []
    for row in ids[:10]:
        tokens = ours.convert_ids_to_tokens(row)
        assert tokens == hf.convert_ids_to_tokens(row)
        assert ours.convert_tokens_to_string(tokens) == hf.convert_tokens_to_string(tokens)


def test_decode_clean_up_defaults(loaded):
    """T5 (Unigram) cleans up spaces when its config says so; BART (BPE) never does, as transformers 5."""
    text = "hello , world . isn ' t it ?"
    t5, t5_hf = loaded["t5-spiece-config"]
    ids = t5(text)["input_ids"]
    assert t5.clean_up_tokenization_spaces is True
    assert t5.decode(ids, skip_special_tokens=True) == t5_hf.decode(ids, skip_special_tokens=True)
    assert t5.decode(ids, skip_special_tokens=True) != t5.decode(
        ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    bart, bart_hf = loaded["bart-vocab-config"]
    ids = bart(text)["input_ids"]
    assert bart.clean_up_tokenization_spaces is True
    assert bart.decode(ids, skip_special_tokens=True) == bart_hf.decode(ids, skip_special_tokens=True) == text


def test_clean_up_bpe_when_forced(folders):
    option = {"clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": True}
    ours = AutoTokenizer.from_pretrained(folders["bart-vocab-config"], **option)
    hf = transformers.AutoTokenizer.from_pretrained(folders["bart-vocab-config"], **option)
    ids = ours("hello , world . isn ' t it ?")["input_ids"]
    assert ours.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids, skip_special_tokens=True) == "hello, world. isn't it?"
    # transformers 4 cleaned BPE text up too: clean_up_tokenization does it on any text.
    assert ours.clean_up_tokenization("a , b .") == hf.clean_up_tokenization("a , b .") == "a, b."


# ---------------------------------------------------------------------- targets


TARGET_SETTINGS = [
    dict(),
    dict(padding=True),
    dict(padding=True, truncation=True, max_length=8),
    dict(padding="max_length", truncation=True, max_length=12, return_tensors="np"),
    dict(padding=True, truncation=True, max_length=16, max_target_length=6),
    dict(truncation=True, max_target_length=5),
    dict(padding=True, return_offsets_mapping=True, add_special_tokens=False),
    dict(padding=True, pad_to_multiple_of=4, padding_side="left"),
]


@pytest.mark.parametrize("case", ["t5-spiece", "t5-tokenizer-json", "bart-vocab-config", "bart-tokenizer-json"])
def test_text_target(loaded, case):
    ours, hf = loaded[case]
    sources, targets = TEXTS[20:36], TEXTS[40:56]
    for settings in TARGET_SETTINGS:
        got = assert_same_call(ours, hf, sources, text_target=targets, **settings)
        assert "labels" in got
        assert_same_call(ours, hf, text_target=targets, **settings)
        assert_same_call(ours, hf, sources[3], text_target=targets[3], **settings)
        assert_same_call(ours, hf, sources[:4], sources[4:8], text_target=targets[:4],
                         text_pair_target=targets[4:8], **settings)
    only_targets = ours(text_target=targets, padding=True)
    assert "labels" not in only_targets
    assert only_targets["input_ids"] == ours(targets, padding=True)["input_ids"]
    assert plain(ours(sources, text_target=targets, padding=True, return_tensors="pt")["labels"]) == plain(
        hf(sources, text_target=targets, padding=True, return_tensors="pt")["labels"])


def test_text_target_errors(loaded):
    ours, _ = loaded["t5-spiece"]
    with pytest.raises(ValueError, match="text_target"):
        ours()
    with pytest.raises(ValueError, match=r"text_target\[1\] must be a str"):
        ours("a", text_target=["b", 2])
    with pytest.raises(ValueError, match="text_target has 2 items but text_pair_target has 1"):
        ours(text_target=["a", "b"], text_pair_target=["c"])


# ---------------------------------------------------------------------- saving


@pytest.mark.parametrize("case", ["t5-spiece", "t5-spiece-config", "t5-hf4-layout", "bart-vocab-config",
                                  "bart-hub-layout"])
def test_save_pretrained_round_trip(loaded, tmp_path, case):
    ours, hf = loaded[case]
    settings = dict(padding=True, truncation=True, max_length=20, return_offsets_mapping=True)
    expected = hf(TEXTS[::7], **settings)
    ours.save_pretrained(tmp_path)
    for reloaded in (AutoTokenizer.from_pretrained(tmp_path), transformers.AutoTokenizer.from_pretrained(
            str(tmp_path))):
        got = reloaded(TEXTS[::7], **settings)
        for key in expected:
            assert plain(got[key]) == plain(expected[key]), (case, type(reloaded).__name__, key)
        assert sorted(reloaded.all_special_tokens) == sorted(hf.all_special_tokens)
        assert reloaded.decode(expected["input_ids"][2]) == hf.decode(expected["input_ids"][2])
        assert type(reloaded).__name__ in ("PreTrainedTokenizer", type(hf).__name__)


# ---------------------------------------------------------------------- bad input


def test_spiece_model_needs_a_tokenizer_class(folders, tmp_path):
    with open(f"{folders['t5-spiece']}/spiece.model", "rb") as f:
        (tmp_path / "spiece.model").write_bytes(f.read())
    with pytest.raises(ModelNotFoundError, match="spiece.model.*T5Tokenizer"):
        AutoTokenizer.from_pretrained(tmp_path)


def test_spiece_model_errors(tmp_path):
    _write_json(tmp_path / "config.json", {"model_type": "t5"})
    with pytest.raises(ModelNotFoundError, match="T5Tokenizer needs spiece.model"):
        AutoTokenizer.from_pretrained(tmp_path)
    (tmp_path / "spiece.model").write_bytes(b"\xff\xfe not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        AutoTokenizer.from_pretrained(tmp_path)


def test_bpe_sentencepiece_is_not_a_t5_model(tmp_path):
    train_t5_spiece(tmp_path, vocab_size=120, model_type="bpe", lines=corpus(200))
    _write_json(tmp_path / "config.json", {"model_type": "t5"})
    with pytest.raises(ValueError, match="bpe model; T5Tokenizer needs a unigram model"):
        AutoTokenizer.from_pretrained(tmp_path)


def test_extra_ids_must_match_the_sentinels(folders):
    """A config naming 10 sentinels with extra_ids=5 is an error (transformers 4's T5Tokenizer raised too)."""
    for case in ("t5-spiece-config", "t5-hf4-layout"):
        with pytest.raises(ValueError, match="extra_ids=5"):
            AutoTokenizer.from_pretrained(folders[case], extra_ids=5)


def test_missing_sentencepiece_says_how_to_install(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install .*keras-tfm\[sentencepiece\]"):
        AutoTokenizer.from_pretrained(folders["t5-spiece"])
    # A folder with tokenizer.json needs no sentencepiece.
    assert AutoTokenizer.from_pretrained(folders["t5-tokenizer-json"])("a b")["input_ids"][-1] == 1


def test_tokenizer_folder_helpers(tmp_path):
    """tests/tokenizer_folders.py writes what transformers 5 saves; keras_tfm reads it the same."""
    for folder, hf in [(tmp_path / "t5", save_t5_tokenizer(tmp_path / "t5", extra_ids=8, model_max_length=64)),
                       (tmp_path / "bart", save_bart_tokenizer(tmp_path / "bart", vocab_size=300))]:
        ours = AutoTokenizer.from_pretrained(folder)
        assert len(ours) == len(hf) and ours.model_max_length == hf.model_max_length
        assert_same_call(ours, hf, TEXTS[:40], text_target=TEXTS[40:80], padding=True, truncation=True)
    assert len(AutoTokenizer.from_pretrained(tmp_path / "t5")) == 208
