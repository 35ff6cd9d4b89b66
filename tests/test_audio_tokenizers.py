"""Speech tokenizers and processors against transformers 5 on the same files.

Wav2Vec2's CTC character tokenizer and a tiny Whisper byte-level BPE (with all of
Whisper's special, language and timestamp tokens) are written by transformers' own classes
(``tests/tokenizer_folders.py``); ids, decoding, offsets, prefix tokens and the processors
must equal transformers', and folders must load both ways.
"""

import json
import pickle
import random

import keras
import numpy as np
import pytest
import transformers
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from keras_tfm import AutoProcessor, AutoTokenizer
from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.processing import (
    Wav2Vec2CTCTokenizer,
    Wav2Vec2CTCTokenizerOutput,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Processor,
    WhisperFeatureExtractor,
    WhisperProcessor,
    WhisperTokenizer,
)
from tests.tokenizer_folders import CTC_VOCAB, corpus, save_ctc_tokenizer, save_whisper_tokenizer

FRAMEWORK = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[keras.backend.backend()]
CTC_PIECES = list("HELO WRDTAX") + ["hel", "<s>", "</s>", "<pad>", "<unk>", "|", "  ", "\n", "é", "😀", "<s"]


def _write_json(path, value):
    path.write_text(json.dumps(value), encoding="utf-8")


def _random_texts(pieces, n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 14))) for _ in range(n)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_tokenizers")
    save_ctc_tokenizer(root / "ctc")
    save_ctc_tokenizer(root / "ctc-lower", do_lower_case=True)
    # As the hub's facebook/wav2vec2-base-960h: no tokenizer_class, special_tokens_map.json, config.json.
    hub = root / "ctc-hub-layout"
    hub.mkdir()
    _write_json(hub / "vocab.json", CTC_VOCAB)
    _write_json(hub / "tokenizer_config.json", {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>",
                                                "pad_token": "<pad>", "do_lower_case": False,
                                                "return_attention_mask": False, "do_normalize": True})
    _write_json(hub / "special_tokens_map.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                                  "pad_token": "<pad>"})
    _write_json(hub / "config.json", {"model_type": "wav2vec2"})
    _write_json(hub / "preprocessor_config.json", {
        "do_normalize": True, "feature_extractor_type": "Wav2Vec2FeatureExtractor", "feature_size": 1,
        "padding_side": "right", "padding_value": 0.0, "return_attention_mask": False, "sampling_rate": 16000})
    whisper = root / "whisper"
    save_whisper_tokenizer(whisper)
    # The legacy layout (vocab.json + merges.txt + added_tokens.json, no tokenizer.json), as older hub folders.
    legacy = root / "whisper-legacy"
    hf = transformers.AutoTokenizer.from_pretrained(str(whisper))
    legacy.mkdir()
    hf.save_vocabulary(str(legacy))
    (legacy / "normalizer.json").unlink(missing_ok=True)
    _write_json(legacy / "added_tokens.json", hf.get_added_vocab())
    _write_json(legacy / "special_tokens_map.json", {
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "additional_special_tokens": hf.extra_special_tokens})
    _write_json(legacy / "tokenizer_config.json", {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024,
                                                   "add_prefix_space": False, "errors": "replace"})
    _write_json(legacy / "normalizer.json", {"colour": "color"})
    return {path.name: str(path) for path in root.iterdir()}


@pytest.fixture(scope="module")
def ctc(folders):
    return {name: (AutoTokenizer.from_pretrained(folders[name]), transformers.AutoTokenizer.from_pretrained(
        folders[name])) for name in ("ctc", "ctc-lower", "ctc-hub-layout")}


@pytest.fixture(scope="module")
def whisper(folders):
    return {name: (AutoTokenizer.from_pretrained(folders[name]), transformers.AutoTokenizer.from_pretrained(
        folders[name])) for name in ("whisper", "whisper-legacy")}


# ---------------------------------------------------------------------- Wav2Vec2 CTC tokenizer


def test_ctc_classes_and_vocabulary(ctc):
    for name, (ours, hf) in ctc.items():
        assert isinstance(ours, Wav2Vec2CTCTokenizer) and type(hf).__name__ == "Wav2Vec2CTCTokenizer", name
        assert ours.get_vocab() == hf.get_vocab() and ours.vocab_size == hf.vocab_size and len(ours) == len(hf)
        assert ours.all_special_tokens == hf.all_special_tokens and ours.all_special_ids == hf.all_special_ids
        assert (ours.pad_token_id, ours.word_delimiter_token, ours.word_delimiter_token_id) == (
            hf.pad_token_id, hf.word_delimiter_token, hf.word_delimiter_token_id)


def test_ctc_encoding_matches_transformers(ctc):
    texts = _random_texts(CTC_PIECES + list("hello world"), 150, seed=0) + ["HELLO WORLD", "", " ", "hello"]
    for name, (ours, hf) in ctc.items():
        assert [ours(t)["input_ids"] for t in texts] == [hf(t)["input_ids"] for t in texts], name
        assert ours(texts)["input_ids"] == hf(texts)["input_ids"], name
    ours, hf = ctc["ctc"]
    batch = ["HELLO", "A WORD", "X"]
    ours_batch = ours(batch, padding=True, return_tensors="np")
    hf_batch = hf(batch, padding=True, return_tensors="np")
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(ours_batch[key], hf_batch[key])
    tensors = ours(batch, padding="max_length", max_length=8, return_tensors=FRAMEWORK)
    assert tuple(tensors["input_ids"].shape) == (3, 8)
    assert type(tensors["input_ids"]).__module__.split(".")[0] in ("torch", "tensorflow", "jax", "jaxlib")


def test_ctc_decoding_matches_transformers(ctc):
    rng = random.Random(1)
    options = [{}, {"skip_special_tokens": True}, {"group_tokens": False},
               {"output_char_offsets": True, "output_word_offsets": True},
               {"output_word_offsets": True, "skip_special_tokens": True}, {"spaces_between_special_tokens": True}]
    for name, (ours, hf) in ctc.items():
        sequences = [[rng.randrange(len(hf)) for _ in range(rng.randint(0, 30))] for _ in range(60)]
        sequences += [[], [0, 0], [4, 4, 4], [8, 8, 0, 8, 4, 0, 5, 5]]
        for ids in sequences:
            for kwargs in options:
                expected = hf.decode(ids, **kwargs)
                got = ours.decode(np.asarray(ids, dtype=np.int64), **kwargs)
                assert (dict(got) if isinstance(got, Wav2Vec2CTCTokenizerOutput) else got) == (
                    dict(expected) if not isinstance(expected, str) else expected), (name, ids, kwargs)
        frames = keras.ops.convert_to_tensor(np.array([[8, 8, 0, 8, 4, 5], [0, 5, 5, 5, 4, 0]], dtype="int32"))
        assert ours.batch_decode(frames) == hf.batch_decode(np.asarray(frames)), name  # backend tensors
        for kwargs in ({}, {"output_char_offsets": True}, {"output_word_offsets": True}):
            got, expected = ours.batch_decode(sequences[:5], **kwargs), hf.batch_decode(sequences[:5], **kwargs)
            assert (got if isinstance(got, list) else dict(got)) == (
                expected if isinstance(expected, list) else dict(expected)), (name, kwargs)


def test_ctc_word_offsets_of_a_frame_sequence(ctc):
    ours, _ = ctc["ctc"]
    ids = ours.convert_tokens_to_ids(["<pad>", "H", "H", "E", "<pad>", "L", "L", "<pad>", "L", "O", "|", "|", "W", "E",
                                      "<pad>"])
    out = ours.decode(ids, output_word_offsets=True, output_char_offsets=True)
    assert out.text == "HELLO WE"
    assert out.word_offsets == [{"word": "HELLO", "start_offset": 1, "end_offset": 10},
                                {"word": "WE", "start_offset": 12, "end_offset": 14}]
    assert [c["char"] for c in out.char_offsets] == list("HELLO WE")
    assert ours._get_word_offsets(out.char_offsets, " ") == transformers.Wav2Vec2CTCTokenizer._get_word_offsets(
        out.char_offsets, " ") == out.word_offsets


def test_ctc_round_trips(ctc, folders, tmp_path):
    ours, hf = ctc["ctc-lower"]
    ours.save_pretrained(tmp_path / "ours")
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == ["tokenizer_config.json", "vocab.json"]
    hf_loaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    ours_loaded = AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert type(hf_loaded).__name__ == "Wav2Vec2CTCTokenizer" and hf_loaded.do_lower_case
    texts = ["hello world", "HEL <s> LO", "x"]
    for tokenizer in (hf_loaded, ours_loaded, pickle.loads(pickle.dumps(ours))):
        assert [tokenizer(t)["input_ids"] for t in texts] == [hf(t)["input_ids"] for t in texts]
        assert tokenizer.decode([0, 9, 9, 5, 4, 6]) == hf.decode([0, 9, 9, 5, 4, 6])


def test_ctc_added_tokens_and_nested_vocabulary(tmp_path):
    nested = {"eng": CTC_VOCAB, "deu": {**{t: i for t, i in CTC_VOCAB.items() if t != "Z"}, "Ä": 31}}
    _write_json(tmp_path / "vocab.json", nested)
    hf = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), target_lang="eng")
    ours = Wav2Vec2CTCTokenizer(tmp_path / "vocab.json", target_lang="eng")
    assert ours("ZÄ")["input_ids"] == hf("ZÄ")["input_ids"]
    hf.set_target_lang("deu")
    ours.set_target_lang("deu")
    assert ours("ZÄ")["input_ids"] == hf("ZÄ")["input_ids"] and ours.decode([31, 5]) == hf.decode([31, 5])
    for tokenizer in (hf, ours):
        assert tokenizer.add_tokens(["Ö", "<laugh>"]) == 2
    assert ours("Ö <laugh>A")["input_ids"] == hf("Ö <laugh>A")["input_ids"]
    assert ours.decode([32, 33]) == hf.decode([32, 33])
    with pytest.raises(ValueError, match="'fra'.*'deu', 'eng'"):
        ours.set_target_lang("fra")
    with pytest.raises(ValueError, match="target_lang"):
        Wav2Vec2CTCTokenizer(tmp_path / "vocab.json")


def test_ctc_bad_input(ctc, tmp_path):
    ours, _ = ctc["ctc"]
    with pytest.raises(ValueError, match="Token id 99 .*ids 0 to 31"):
        ours.decode([4, 99])
    with pytest.raises(ValueError, match="-100"):
        ours.batch_decode([[4, -100]])
    with pytest.raises(ValueError, match="batch_decode"):
        ours.decode([[1, 2], [3, 4]])
    (tmp_path / "empty").mkdir()
    _write_json(tmp_path / "empty" / "tokenizer_config.json", {"tokenizer_class": "Wav2Vec2CTCTokenizer"})
    with pytest.raises(FileNotFoundError, match="no vocab.json"):
        AutoTokenizer.from_pretrained(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError):
        Wav2Vec2CTCTokenizer.from_pretrained(tmp_path / "missing")


# ---------------------------------------------------------------------- Whisper tokenizer


def test_whisper_classes_and_vocabulary(whisper):
    for name, (ours, hf) in whisper.items():
        assert isinstance(ours, WhisperTokenizer) and type(hf).__name__ == "WhisperTokenizer", name
        assert ours.get_vocab() == hf.get_vocab() and len(ours) == len(hf) == 300 + 1608, name
        assert ours.all_special_ids == hf.all_special_ids, name
        assert ours.timestamp_begin == hf.all_special_ids[-1] + 1 == hf.convert_tokens_to_ids("<|0.00|>")
        assert ours.timestamp_ids() == hf.timestamp_ids()


@pytest.mark.parametrize("language, task, predict_timestamps", [
    (None, None, False), ("german", "translate", True), ("FR", "transcribe", False), ("en", None, True)])
def test_whisper_prefix_tokens_and_encoding(whisper, language, task, predict_timestamps):
    texts = corpus(12, seed=5) + ["", " hello", "<|en|> the fox<|endoftext|>", "naïve café 日本 😀"]
    for name, (ours, hf) in whisper.items():
        for tokenizer in (ours, hf):
            tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=predict_timestamps)
        assert ours.prefix_tokens == hf.prefix_tokens, name
        assert ours(texts)["input_ids"] == hf(texts)["input_ids"], name
        assert ours(texts[0], texts[1])["input_ids"] == hf(texts[0], texts[1])["input_ids"], name
        assert ours(texts[:3], add_special_tokens=False)["input_ids"] == hf(texts[:3], add_special_tokens=False)[
            "input_ids"]
        for kwargs in ({}, {"language": "es", "task": "transcribe"}, {"no_timestamps": False, "task": "translate"}):
            assert ours.get_decoder_prompt_ids(**kwargs) == hf.get_decoder_prompt_ids(**kwargs), (name, kwargs)
        np.testing.assert_array_equal(ours.get_prompt_ids("the quick fox "), hf.get_prompt_ids("the quick fox "))
        for tokenizer in (ours, hf):  # back to the saved defaults, for the other tests
            tokenizer.language = tokenizer.task = None
            tokenizer.set_prefix_tokens(predict_timestamps=False)


def _whisper_sequences(hf, n, seed):
    """Random ids, and transcripts with timestamp pairs (several segments, prompts) as Whisper writes them."""
    rng = random.Random(seed)
    start, eos = hf.convert_tokens_to_ids("<|startoftranscript|>"), hf.eos_token_id
    begin, prev = hf.convert_tokens_to_ids("<|0.00|>"), hf.convert_tokens_to_ids("<|startofprev|>")
    sequences = [[rng.randrange(len(hf)) for _ in range(rng.randint(0, 25))] for _ in range(n)]
    for _ in range(n):
        ids, time = [start, begin - 1 - rng.randrange(2)], 0
        for _ in range(rng.randint(1, 4)):
            time = min(time + rng.randint(0, 40), 1500)
            ids.append(begin + time)
            ids += [rng.randrange(300) for _ in range(rng.randint(1, 5))]
            time = min(time + rng.randint(1, 40), 1500)
            ids.append(begin + time)
            if rng.random() < 0.3:
                ids.append(begin + time)  # a doubled timestamp: the segment ends here
            if rng.random() < 0.3:
                time = rng.randint(0, 20)  # the next 30-second window
        sequences.append(ids + [eos])
    sequences += [[prev, 5, 6] + sequences[-1], [prev, 5, 6], [begin, 8, begin + 10], [begin + 3]]
    return sequences


def test_whisper_decoding_matches_transformers(whisper):
    options = [{}, {"skip_special_tokens": True}, {"decode_with_timestamps": True},
               {"decode_with_timestamps": True, "skip_special_tokens": True, "time_precision": 0.04},
               {"output_offsets": True}, {"output_offsets": True, "skip_special_tokens": True},
               {"basic_normalize": True, "skip_special_tokens": True}, {"basic_normalize": True,
                                                                        "remove_diacritics": True}]
    # transformers reads added_tokens.json's language / task tokens as not special, so that its
    # skip_special_tokens keeps them in the text: the legacy folder must decode as the tokenizer.json one.
    hf = whisper["whisper"][1]
    for name, (ours, _) in whisper.items():
        sequences = _whisper_sequences(hf, 25, seed=len(name))
        for ids in sequences:
            for kwargs in options:
                assert ours.decode(np.asarray(ids, dtype=np.int32), **kwargs) == hf.decode(ids, **kwargs), (
                    name, ids, kwargs)
        assert ours.batch_decode(sequences[:4], skip_special_tokens=True) == hf.batch_decode(
            sequences[:4], skip_special_tokens=True)
        generated = keras.ops.convert_to_tensor(np.array([seq[:6] for seq in sequences[-8:-4]], dtype="int32"))
        assert ours.batch_decode(generated, decode_with_timestamps=True) == hf.batch_decode(
            np.asarray(generated).tolist(), decode_with_timestamps=True)


def test_whisper_basic_normalizer():
    texts = ["Hello, World! (laughs) [music] Ça va? Œuvre — naïve 'quote' 1,000.5%", "  Tabs\tand\nlines  ", ""]
    for remove_diacritics in (False, True):
        hf = BasicTextNormalizer(remove_diacritics=remove_diacritics)
        assert [WhisperTokenizer.basic_normalize(t, remove_diacritics) for t in texts] == [hf(t) for t in texts]


def test_whisper_round_trips(whisper, folders, tmp_path):
    ours, hf = whisper["whisper-legacy"]
    assert ours.english_spelling_normalizer == {"colour": "color"}
    ours.set_prefix_tokens(language="spanish", task="transcribe")
    ours.save_pretrained(tmp_path / "ours")
    hf_loaded = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    ours_loaded = AutoTokenizer.from_pretrained(str(tmp_path / "ours"))
    assert json.loads((tmp_path / "ours" / "normalizer.json").read_text()) == {"colour": "color"}
    hf.set_prefix_tokens(language="spanish", task="transcribe")
    texts = ["the quick fox", "über Straße"]
    for tokenizer in (hf_loaded, ours_loaded):
        assert tokenizer.prefix_tokens == hf.prefix_tokens
        assert tokenizer(texts)["input_ids"] == hf(texts)["input_ids"]
    for tokenizer in (ours, hf):
        tokenizer.language = tokenizer.task = None
        tokenizer.set_prefix_tokens()


def test_whisper_bad_input(whisper):
    ours, _ = whisper["whisper"]
    with pytest.raises(ValueError, match="Unsupported language: 'klingon'"):
        ours.set_prefix_tokens(language="klingon")
    with pytest.raises(ValueError, match="Unsupported task: 'summarize'.*translate"):
        ours.get_decoder_prompt_ids(task="summarize")
    assert ours.language is None and ours.task is None  # nothing changed
    with pytest.raises(ValueError, match="Token id 5000 .*ids 0 to 1907"):
        ours.decode([5, 5000])
    with pytest.raises(ValueError, match="-100"):
        ours.batch_decode([[5, -100]])
    with pytest.raises(ValueError, match="English text normalizer.*basic_normalize"):
        ours.decode([5], normalize=True)
    with pytest.raises(ValueError, match="special token"):
        ours.get_prompt_ids("hello <|en|>")


# ---------------------------------------------------------------------- processors


def _speech(seconds, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def processor_folders(folders, tmp_path_factory):
    root = tmp_path_factory.mktemp("audio_processors")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folders["ctc"])
    transformers.Wav2Vec2Processor(transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True),
                                   tokenizer).save_pretrained(str(root / "wav2vec2"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folders["whisper"])
    transformers.WhisperProcessor(transformers.WhisperFeatureExtractor(feature_size=80),
                                  tokenizer).save_pretrained(str(root / "whisper"))
    return {"wav2vec2": str(root / "wav2vec2"), "whisper": str(root / "whisper")}


def test_wav2vec2_processor(processor_folders, folders, tmp_path):
    ours = AutoProcessor.from_pretrained(processor_folders["wav2vec2"])
    hf = transformers.AutoProcessor.from_pretrained(processor_folders["wav2vec2"])
    assert isinstance(ours, Wav2Vec2Processor) and isinstance(ours.feature_extractor, Wav2Vec2FeatureExtractor)
    assert isinstance(ours.tokenizer, Wav2Vec2CTCTokenizer) and ours.model_input_names == hf.model_input_names
    audio, text = [_speech(0.3, 0), _speech(0.2, 1)], ["HELLO WORLD", "A TEST"]
    got = ours(audio=audio, text=text, sampling_rate=16000, padding=True, return_tensors="np")
    expected = hf(audio=audio, text=text, sampling_rate=16000, padding=True, return_tensors="np")
    assert sorted(got) == sorted(expected) == ["attention_mask", "input_values", "labels"]
    np.testing.assert_allclose(got["input_values"], expected["input_values"], atol=1e-5)
    np.testing.assert_array_equal(got["labels"], expected["labels"])
    assert dict(ours(text="HI THERE")) == dict(hf(text="HI THERE"))
    np.testing.assert_allclose(ours(audio[0], sampling_rate=16000)["input_values"][0],
                               hf(audio[0], sampling_rate=16000)["input_values"][0], atol=1e-5)
    features = [{"input_values": a} for a in audio]
    labels = [{"input_ids": ours.tokenizer(t)["input_ids"]} for t in text]
    padded = ours.pad(features, labels=labels, padding=True, return_tensors="np")
    hf_padded = hf.pad(features, labels=labels, padding=True, return_tensors="np")
    for key in hf_padded:
        np.testing.assert_array_equal(padded[key], hf_padded[key])
    assert ours.batch_decode(expected["labels"]) == hf.batch_decode(expected["labels"])

    ours.save_pretrained(tmp_path / "ours")
    for loaded in (transformers.AutoProcessor.from_pretrained(str(tmp_path / "ours")),
                   AutoProcessor.from_pretrained(tmp_path / "ours")):
        assert type(loaded).__name__ == "Wav2Vec2Processor" and loaded.feature_extractor.return_attention_mask
        np.testing.assert_array_equal(loaded(text=text, padding=True, return_tensors="np")["input_ids"],
                                      expected["labels"])
    # The hub layout of facebook/wav2vec2-base-960h: found by config.json's model_type alone.
    hub = AutoProcessor.from_pretrained(folders["ctc-hub-layout"])
    assert isinstance(hub, Wav2Vec2Processor) and isinstance(hub.tokenizer, Wav2Vec2CTCTokenizer)
    with pytest.raises(ValueError, match=r"\['bogus'\]"):
        ours(audio=audio, bogus=1)
    with pytest.raises(ValueError, match="audio= .* or text="):
        ours()


def test_whisper_processor(processor_folders, tmp_path):
    ours = AutoProcessor.from_pretrained(processor_folders["whisper"])
    hf = transformers.AutoProcessor.from_pretrained(processor_folders["whisper"])
    assert isinstance(ours, WhisperProcessor) and isinstance(ours.feature_extractor, WhisperFeatureExtractor)
    assert isinstance(ours.tokenizer, WhisperTokenizer)
    audio = _speech(0.5, 2)
    got = ours(audio=audio, text="the quick fox", sampling_rate=16000, return_tensors="np")
    expected = hf(audio=audio, text="the quick fox", sampling_rate=16000, return_tensors="np")
    assert sorted(got) == sorted(expected)
    np.testing.assert_allclose(got["input_features"], expected["input_features"], atol=1e-4)
    np.testing.assert_array_equal(got["labels"], expected["labels"])
    assert ours.get_decoder_prompt_ids(language="en", task="translate") == hf.get_decoder_prompt_ids(
        language="en", task="translate")
    np.testing.assert_array_equal(ours.get_prompt_ids("a b"), hf.get_prompt_ids("a b"))
    ids = expected["labels"][0].tolist()
    assert ours.batch_decode([ids], skip_special_tokens=True) == hf.batch_decode([ids], skip_special_tokens=True)

    ours.save_pretrained(tmp_path / "ours")
    loaded = transformers.AutoProcessor.from_pretrained(str(tmp_path / "ours"))
    assert type(loaded).__name__ == "WhisperProcessor" and loaded.tokenizer.language == "en"
    assert loaded(text="the quick fox")["input_ids"] == ours(text="the quick fox")["input_ids"]
    assert AutoProcessor.from_pretrained(tmp_path / "ours").tokenizer.prefix_tokens == ours.tokenizer.prefix_tokens
    for processor in (ours, hf):
        processor.tokenizer.language = processor.tokenizer.task = None
        processor.tokenizer.set_prefix_tokens()
    # The fine-tuning idiom: the language and task given to from_pretrained set the tokenizer's prefix.
    hindi = AutoProcessor.from_pretrained(processor_folders["whisper"], language="Hindi", task="transcribe")
    hf_hindi = transformers.AutoProcessor.from_pretrained(processor_folders["whisper"], language="Hindi",
                                                          task="transcribe")
    assert hindi.tokenizer.prefix_tokens == hf_hindi.tokenizer.prefix_tokens
    assert hindi(text="the fox")["input_ids"] == hf_hindi(text="the fox")["input_ids"]
