"""Audio pipelines: parity with HF 5's ``transformers.pipeline`` on the same tiny random models (saved by HF,
loaded by us) and audio: audio-classification (labels, scores), automatic-speech-recognition with a CTC model
(text, char / word timestamps, 60 s chunked) and Whisper (text, segments, language, 60 s chunked); inputs
(arrays, files, bytes, lists, generators, the quick tour's ``datasets`` Audio column, datasets 3's decoded rows);
Whisper's chunk merging against HF's ``_decode_asr``; bad input.

HF's pipelines resample only through torchaudio (not installed): HF gets the audio already at the model's rate
(channels averaged, resampled with soxr HQ, as ``load_audio`` does)."""

import copy
import json

import numpy as np
import pytest
import soundfile
import soxr
import torch
import transformers

from keras_tfm.pipelines import KeyDataset, infer_task, pipeline
from keras_tfm.processing import AutoTokenizer
from keras_tfm.registry import MODELS

ATOL = 1e-4
RATE = 16000
CHAR_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnop"]
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>", "<|de|>", "<|translate|>",
                    "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def _needs(auto_name, model_type):
    return pytest.mark.skipif(model_type not in MODELS.get(auto_name, {}),
                              reason=f"keras_tfm has no {model_type} model for {auto_name} in this checkout")


needs_ctc = _needs("AutoModelForCTC", "wav2vec2")
needs_audio_classification = _needs("AutoModelForAudioClassification", "wav2vec2")
needs_whisper = _needs("AutoModelForSpeechSeq2Seq", "whisper")


def _noise(seconds, seed, rate=RATE):
    return (np.random.RandomState(seed).randn(int(seconds * rate)) * 0.3).astype("float32")


def _wav2vec2_config(**kwargs):
    # conv strides 5 * 4 * 4: 80 samples per frame, so that 60 s of audio is quick; layer norms and an attention
    # mask: padded batches give the unpadded results
    return transformers.Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(16, 16, 16),
        conv_kernel=(10, 5, 5), conv_stride=(5, 4, 4), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer", do_stable_layer_norm=True, initializer_range=0.5, **kwargs)


def _wav2vec2_extractor():
    return transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=RATE, padding_value=0.0,
                                                 do_normalize=True, return_attention_mask=True)


def _save_ctc(root):
    root.mkdir()
    (root / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(CHAR_VOCAB)}))
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(root / "vocab.json"))
    torch.manual_seed(0)
    model = transformers.Wav2Vec2ForCTC(_wav2vec2_config(vocab_size=len(CHAR_VOCAB), pad_token_id=0))
    model.eval().save_pretrained(root)
    tokenizer.save_pretrained(root)
    _wav2vec2_extractor().save_pretrained(root)
    return str(root)


def _save_classifier(root):
    labels = ["yes", "no", "up", "down", "left"]
    torch.manual_seed(1)
    config = _wav2vec2_config(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                              classifier_proj_size=8)
    transformers.Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(root)
    _wav2vec2_extractor().save_pretrained(root)
    return str(root)


def save_whisper_tokenizer(root):
    """A tiny byte-level BPE Whisper tokenizer (256 bytes, a few merges) with Whisper's special, language
    (en, fr, de), task and 1501 timestamp tokens; returns {special token: id}."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {char: i for i, char in enumerate(bytes_to_unicode().values())}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("a", "n"), ("Ġ", "a")]
    for pair in merges:
        vocab["".join(pair)] = len(vocab)
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(pair) for pair in merges) + "\n")
    eot = WHISPER_SPECIALS[0]
    tokenizer = transformers.WhisperTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), unk_token=eot,
                                              bos_token=eot, eos_token=eot, pad_token=eot)
    tokenizer.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS[1:]})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    tokenizer.save_pretrained(root)
    return tokenizer, {token: tokenizer.convert_tokens_to_ids(token) for token in WHISPER_SPECIALS}


def _save_whisper(root):
    """A tiny Whisper of real time shapes (30 s -> 3000 log-mel frames, 1500 encoder positions: 0.02 s per
    timestamp) with 8 mel bins, and a generation config as a real multilingual checkpoint's."""
    root.mkdir()
    tokenizer, ids = save_whisper_tokenizer(root)
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    torch.manual_seed(0)
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer), num_mel_bins=8, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=64, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
        decoder_start_token_id=sot, begin_suppress_tokens=None, suppress_tokens=None, init_std=0.5)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # a random model prefers timestamps to text: tone them down (timestamp segments remain)
        model.model.decoder.embed_tokens.weight[ids["<|notimestamps|>"] + 1:] *= 0.3
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, bos_token_id=eot, max_length=64,
        lang_to_id={f"<|{code}|>": ids[f"<|{code}|>"] for code in ("en", "fr", "de")},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        is_multilingual=True, max_initial_timestamp_index=50, suppress_tokens=[5, 6], begin_suppress_tokens=[220, eot])
    model.save_pretrained(root)
    transformers.WhisperFeatureExtractor(feature_size=8).save_pretrained(root)
    return str(root)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("audio_pipelines")
    return {"ctc": _save_ctc(base / "ctc"), "classifier": _save_classifier(base / "classifier"),
            "whisper": _save_whisper(base / "whisper")}


@pytest.fixture(scope="module")
def hf(folders):
    """HF 5's pipelines, built lazily (Whisper's only where our Whisper exists)."""
    tasks = {"ctc": "automatic-speech-recognition", "classifier": "audio-classification",
             "whisper": "automatic-speech-recognition"}
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = transformers.pipeline(tasks[name], model=folders[name])
        return cache[name]

    return get


@pytest.fixture(scope="module")
def ours(folders):
    tasks = {"ctc": "automatic-speech-recognition", "classifier": "audio-classification",
             "whisper": "automatic-speech-recognition"}
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = pipeline(tasks[name], model=folders[name])
        return cache[name]

    return get


def _same_scores(got, want):
    assert [r["label"] for r in got] == [r["label"] for r in want]
    np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in want], atol=ATOL)


# ---- audio classification ------------------------------------------------------------
@needs_audio_classification
def test_audio_classification_matches_hf(hf, ours):
    clips = [_noise(1.0, 0), _noise(0.6, 1)]  # padded to one compiled shape (16384 samples)
    classifier = ours("classifier")
    assert classifier.feature_extractor.sampling_rate == RATE
    _same_scores(classifier(clips[0]), hf("classifier")(clips[0]))  # no top_k in the call: every label, as HF 5
    _same_scores(classifier(clips[1], top_k=2), hf("classifier")(clips[1], top_k=2))
    _same_scores(classifier(clips[0], top_k=2, function_to_apply="sigmoid"),
                 hf("classifier")(clips[0], top_k=2, function_to_apply="sigmoid"))
    streamed = list(classifier((clip for clip in clips), top_k=3))  # padded with a mask: the unpadded results
    for got, clip in zip(streamed, clips):
        _same_scores(got, hf("classifier")(clip, top_k=3))


# ---- CTC -----------------------------------------------------------------------------
@needs_ctc
def test_ctc_matches_hf(hf, ours):
    clips = [_noise(1.0, 2), _noise(0.55, 3)]
    asr = ours("ctc")
    for clip in clips:
        assert asr(clip) == hf("ctc")(clip)
        for kind in ("word", "char"):
            got, want = asr(clip, return_timestamps=kind), hf("ctc")(clip, return_timestamps=kind)
            assert got["text"] == want["text"]
            assert got["chunks"] == [{"text": c["text"], "timestamp": tuple(map(float, c["timestamp"]))}
                                     for c in want["chunks"]]
    want = [hf("ctc")(clip) for clip in clips]
    assert asr(clips, batch_size=2) == want
    assert list(asr(clip for clip in clips)) == want
    assert asr({"raw": clips[0], "sampling_rate": RATE}) == want[0]


@needs_ctc
def test_ctc_long_audio_chunked_as_hf(hf, ours):
    audio = _noise(60.0, 4)
    want = hf("ctc")(audio, chunk_length_s=10, stride_length_s=2)
    got = ours("ctc")(audio, chunk_length_s=10, stride_length_s=2)
    assert got == want and len(got["text"]) > 1000
    # a streaming stride on a dict input: the logits of that much audio at each end are dropped
    clip = {"raw": audio[:24000], "sampling_rate": RATE, "stride": (4000, 2000)}
    assert ours("ctc")(dict(clip)) == hf("ctc")(dict(clip))


# ---- the quick tour's datasets snippet -------------------------------------------------
def _write_wavs(folder, count=4, rate=44100):
    """Stereo 16-bit wav files at 44.1 kHz; their audio as HF's pipeline needs it (mono, 16 kHz, soxr HQ)."""
    paths, resampled = [], []
    for i in range(count):
        seconds = 0.6 + 0.1 * i  # one padded shape (16384 samples at 16 kHz)
        stereo = np.stack([_noise(seconds, 10 + i, rate), _noise(seconds, 20 + i, rate)], axis=1)
        path = folder / f"clip{i}.wav"
        soundfile.write(path, stereo, rate, subtype="FLOAT")
        data, _ = soundfile.read(path, dtype="float32")
        resampled.append(soxr.resample(data.mean(axis=1), rate, RATE, quality="HQ").astype("float32"))
        paths.append(str(path))
    return paths, resampled


@needs_ctc
def test_seed_snippet_datasets_audio_column(hf, ours, tmp_path):
    datasets = pytest.importorskip("datasets")
    paths, resampled = _write_wavs(tmp_path)
    speech_recognizer = ours("ctc")
    dataset = datasets.Dataset.from_dict({"audio": paths, "id": list(range(len(paths)))})
    # datasets 4+ decode only through torchcodec + FFmpeg: the pipeline reads the undecoded rows itself
    rate = speech_recognizer.feature_extractor.sampling_rate
    dataset = dataset.cast_column("audio", datasets.Audio(sampling_rate=rate, decode=False))
    want = [hf("ctc")(audio) for audio in resampled]
    assert speech_recognizer(dataset[:4]["audio"]) == want
    assert list(speech_recognizer(KeyDataset(dataset, "audio"), batch_size=2)) == want
    assert list(speech_recognizer(dataset, batch_size=2)) == want  # whole rows: their "audio" column
    # datasets 3's decoded rows (mono, the file's rate: resampled here), file paths and bytes
    decoded = [{"path": p, "array": soundfile.read(p, dtype="float32")[0].mean(axis=1), "sampling_rate": 44100}
               for p in paths]
    assert speech_recognizer(decoded[:2]) == want[:2]
    assert speech_recognizer(paths[2]) == want[2]
    with open(paths[3], "rb") as file:
        assert speech_recognizer(file.read()) == want[3]


# ---- Whisper -------------------------------------------------------------------------
@needs_whisper
def test_whisper_matches_hf(hf, ours):
    clips = [_noise(2.0, 5), _noise(1.0, 6)]
    asr = ours("whisper")
    greedy = {"num_beams": 1, "max_new_tokens": 10}
    assert asr(clips[0], **greedy) == hf("whisper")(clips[0], **greedy)
    # forced language and task, timestamp segments, the segments' language
    options = {"generate_kwargs": {"language": "fr", "task": "transcribe", **greedy}, "return_timestamps": True,
               "return_language": True}
    got = asr(clips[0], **options)
    assert got == hf("whisper")(clips[0], **options) and got["chunks"][0]["language"] == "french"
    assert asr(clips[1], return_language=True, **greedy) == hf("whisper")(clips[1], return_language=True, **greedy)
    # the pipeline's defaults (5 beams, 256 new tokens) where neither the call nor the model set them
    assert asr._prepare_generate_kwargs({})["num_beams"] == 5
    assert asr._prepare_generate_kwargs({"num_beams": 1})["num_beams"] == 1


@needs_whisper
def test_whisper_long_audio_chunked_as_hf(hf, ours):
    audio = _noise(60.0, 7)
    options = {"chunk_length_s": 30, "num_beams": 1, "max_new_tokens": 10, "ignore_warning": True}
    for timestamps in (None, True):
        want = hf("whisper")(audio, return_timestamps=timestamps, **options)
        assert ours("whisper")(audio, return_timestamps=timestamps, **options) == want
    with pytest.raises(ValueError, match="chunk_length_s=30"):
        ours("whisper")(audio, num_beams=1)


def test_decode_asr_matches_hf(tmp_path):
    """Whisper's chunk merging on made-up chunk outputs (timestamps in and out of the strides, a language
    change, chunks without timestamps) against HF 5's WhisperTokenizer._decode_asr."""
    pytest.importorskip("keras_tfm.processing.tokenization_whisper")
    from keras_tfm.pipelines.asr_decoding import decode_asr

    tokenizer, ids = save_whisper_tokenizer(tmp_path)
    ours_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    begin = ids["<|notimestamps|>"] + 1
    rng = np.random.RandomState(0)

    def segment(n, start, end):
        return [begin + start, *rng.randint(256, 262, n).tolist(), begin + end]

    en, fr = ids["<|en|>"], ids["<|fr|>"]
    text = rng.randint(256, 262, 30).tolist()
    cases = [
        [{"tokens": np.array([[en, *segment(5, 0, 40), *segment(3, 40, 90)]])}],
        [{"tokens": np.array([[en, *segment(6, 0, 300), *segment(4, 300, 900), *segment(5, 1000, 1400)]]),
          "stride": (30.0, 0.0, 5.0)},
         {"tokens": np.array([[en, *segment(4, 0, 200), *segment(5, 250, 700), *segment(5, 900, 1450)]]),
          "stride": (30.0, 5.0, 5.0)},
         {"tokens": np.array([[fr, *segment(3, 0, 100), *segment(6, 150, 600)]]), "stride": (20.0, 5.0, 0.0)}],
        [{"tokens": np.array([text[:20]]), "stride": (30.0, 0.0, 5.0)},
         {"tokens": np.array([text[12:]]), "stride": (25.0, 5.0, 0.0)}],
        # windows concatenated by generate: after an end / start pair, and after a window run to its end
        [{"tokens": np.array([[en, *segment(3, 0, 300), *segment(4, 300, 700), begin + 700, *segment(3, 0, 200)]])}],
        [{"tokens": np.array([[en, *segment(3, 0, 300), *segment(4, 300, 1500), *segment(3, 0, 200)]])}],
        # a previous-text prompt is dropped
        [{"tokens": np.array([[ids["<|startofprev|>"], *text[:4], ids["<|startoftranscript|>"], en,
                               *segment(3, 0, 300)]])}],
    ]
    for case in cases:
        for timestamps in (None, True):
            for language in (None, True):
                options = {"return_timestamps": timestamps, "return_language": language, "time_precision": 0.02}
                want = tokenizer._decode_asr(copy.deepcopy(case), **options)
                assert decode_asr(tokenizer, copy.deepcopy(case), **options) == want
                assert decode_asr(ours_tokenizer, copy.deepcopy(case), **options) == want


# ---- pipeline() and bad input ------------------------------------------------------------
@needs_ctc
def test_pipeline_builds_parts_and_infers_task(folders, ours):
    asr = ours("ctc")
    assert type(asr).__name__ == "AutomaticSpeechRecognitionPipeline"
    assert asr.feature_extractor.sampling_rate == RATE and asr.tokenizer is not None
    assert infer_task(folders["ctc"], None, {}) == "automatic-speech-recognition"
    assert infer_task(folders["classifier"], None, {}) == "audio-classification"
    assert infer_task(folders["whisper"], None, {}) == "automatic-speech-recognition"


@needs_ctc
def test_bad_input_names_the_item(ours, tmp_path):
    asr = ours("ctc")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are not samples")
    good = _noise(1.0, 8)
    bad = {
        "empty": np.zeros(0, "float32"),
        "NaN": np.array([0.1, np.nan] * 2000, "float32"),
        "channel": np.stack([good, good], axis=1),  # (samples, 2): which axis is the channels?
        str(not_audio.name): str(not_audio),
        "sampling_rate": {"array": good},
    }
    for what, value in bad.items():
        with pytest.raises((ValueError, TypeError)) as error:
            asr([good, value])
        message = str(error.value)
        assert "inputs[1]" in message and what.lower() in message.lower(), message
    with pytest.raises(ValueError, match="superior to stride"):
        asr(good, chunk_length_s=1, stride_length_s=0.5)
    with pytest.raises(ValueError, match="return_timestamps='char'"):
        asr(good, return_timestamps=True)
    with pytest.raises(TypeError, match="max_new_tokens"):
        asr(good, max_new_tokens=3)


@needs_audio_classification
def test_datasets_audio_column_undecoded_flac_wav_and_decoders(hf, ours, tmp_path):
    """The quick tour notebook's Audio column, ``decode=False``, over flac files at 8 kHz and wav files at 22.05 kHz
    (tones of ``keras_tfm.data.tones``): its rows, whole rows and torchcodec-like decoders give HF's results on the
    audio resampled to 16 kHz. With ``decode=True`` and no torchcodec, reading a row is datasets' ImportError."""
    datasets = pytest.importorskip("datasets")
    from keras_tfm.data.tones import tones, write_audio
    from tests.test_audio_feature_extractors import StandInAudioDecoder

    paths = (write_audio(tones(2, 8000, seed=3)[0], 8000, tmp_path, "narrow", format="flac")
             + write_audio(tones(2, 22050, seed=4)[0], 22050, tmp_path, "wide"))
    want = []
    for path in paths:
        data, rate = soundfile.read(path, dtype="float32")
        want.append(hf("classifier")(soxr.resample(data, rate, RATE, quality="HQ").astype("float32"), top_k=2))
    dataset = datasets.Dataset.from_dict({"audio": paths, "id": [0, 1, 2, 3]})
    dataset = dataset.cast_column("audio", datasets.Audio(sampling_rate=RATE, decode=False))
    rows = dataset[:4]["audio"]
    assert [sorted(row) for row in rows] == [["bytes", "path"]] * 4
    classifier = ours("classifier")
    for answers in (classifier(rows, top_k=2), list(classifier(dataset, top_k=2, batch_size=2)),
                    classifier([StandInAudioDecoder(path) for path in paths], top_k=2)):
        assert len(answers) == len(want)
        for got, expected in zip(answers, want):
            _same_scores(got, expected)

    decoded = dataset.cast_column("audio", datasets.Audio(sampling_rate=RATE))
    try:
        import torchcodec  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="torchcodec"):
            decoded[0]["audio"]
    else:  # a real AudioDecoder (FFmpeg resamples: other samples than soxr's, the same labels' count)
        assert len(classifier(decoded[0]["audio"], top_k=2)) == 2
