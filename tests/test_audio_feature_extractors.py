"""Wav2Vec2 / Whisper feature extractors and ``load_audio`` against transformers 5's.

The audio is made here: a tone, noise, silence and a chirp at 8, 16, 22.05 and 44.1 kHz,
mono (arrays) and stereo (wav / flac files, and their bytes). transformers' extractors only
take 16 kHz mono arrays, so their side gets each signal through transformers' own
``load_audio`` (soundfile, channel average, soxr HQ) from a file holding it (float wav for
the arrays); ours gets the array with its rate, the path, the bytes, or a ``datasets`` row.
``input_values`` must agree within 1e-5, Whisper's ``input_features`` within 1e-4,
attention masks exactly.
"""

import json
import pathlib
import sys

import keras
import numpy as np
import pytest
import soundfile
import transformers
from transformers.audio_utils import load_audio as hf_load_audio

from keras_tfm import AutoFeatureExtractor, Wav2Vec2FeatureExtractor, WhisperFeatureExtractor
from keras_tfm.processing.audio_utils import load_audio, resample

FRAMEWORK = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[keras.backend.backend()]
RATES = (8000, 16000, 22050, 44100)
DURATION = 0.4  # seconds


def signals(rate):
    """Tone, noise, silence and chirp (float32, DURATION seconds at ``rate``)."""
    rng = np.random.default_rng(rate)
    t = np.arange(int(DURATION * rate)) / rate
    return {
        "tone": 0.6 * np.sin(2 * np.pi * 440.0 * t),
        "noise": 0.2 * rng.standard_normal(len(t)),
        "silence": np.zeros(len(t)),
        "chirp": 0.5 * np.sin(2 * np.pi * (200.0 + 4000.0 * t) * t),  # 200 Hz rising well past 3 kHz
    }


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Per rate: mono arrays with the float-wav files HF reads them from, and stereo wav / flac files."""
    folder = tmp_path_factory.mktemp("audio")
    cases = []
    for rate in RATES:
        mono = {name: signal.astype(np.float32) for name, signal in signals(rate).items()}
        for name, signal in mono.items():
            path = str(folder / f"{name}_{rate}.wav")
            soundfile.write(path, signal, rate, subtype="FLOAT")
            cases.append({"name": f"{name}@{rate}", "rate": rate, "array": signal, "path": path})
        # Stereo: left a tone, right noise or a chirp; 16-bit wav and flac.
        for kind, right, ext in (("noise", mono["noise"], "wav"), ("chirp", mono["chirp"], "flac")):
            path = str(folder / f"stereo_{kind}_{rate}.{ext}")
            soundfile.write(path, np.stack([mono["tone"], right], axis=1), rate)
            cases.append({"name": f"stereo_{kind}@{rate}", "rate": rate, "array": None, "path": path})
    return cases


def hf_reference(cases):
    """What transformers' extractors get: each case loaded at 16 kHz by transformers' load_audio."""
    return [hf_load_audio(case["path"], sampling_rate=16000) for case in cases]


def our_input(case, form):
    """The case as ``form``: the array (with its rate given separately), path, bytes or a datasets row."""
    if form == "array" and case["array"] is not None:
        return case["array"]
    if form == "dict" and case["array"] is not None:
        return {"array": case["array"].astype(np.float64), "sampling_rate": case["rate"], "path": case["path"]}
    if form == "bytes":
        with open(case["path"], "rb") as handle:
            return handle.read()
    if form == "row":  # datasets' Audio(decode=False)
        return {"path": case["path"], "bytes": None}
    return case["path"]


def test_load_audio_matches_transformers(audio):
    for case in audio:
        expected = hf_load_audio(case["path"], sampling_rate=16000)
        np.testing.assert_array_equal(load_audio(case["path"], target_rate=16000), expected, err_msg=case["name"])
        assert load_audio(our_input(case, "bytes"), target_rate=16000).shape == expected.shape
    # Its own rate when no target is given; arrays at another rate resampled as files are.
    stereo = audio[-1]
    native, rate = soundfile.read(stereo["path"], dtype="float32")
    np.testing.assert_array_equal(load_audio(stereo["path"]), native.mean(axis=1))
    tone = next(case for case in audio if case["name"] == "tone@44100")
    np.testing.assert_array_equal(load_audio(tone["array"], sampling_rate=44100, target_rate=16000),
                                  hf_load_audio(tone["path"], sampling_rate=16000))
    np.testing.assert_array_equal(resample(tone["array"], 44100, 16000), hf_load_audio(tone["path"], 16000))


@pytest.mark.parametrize("form", ["array", "bytes", "row"])
def test_wav2vec2_matches_transformers(audio, form):
    hf = transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True)
    ours = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    by_rate = {}
    for case in audio:
        by_rate.setdefault(case["rate"], []).append(case)
    for rate, cases in by_rate.items():
        expected = hf(hf_reference(cases), sampling_rate=16000, padding=True, return_tensors="np")
        # Arrays take the rate given to the call; the stereo files among them carry their own.
        got = ours([our_input(case, form) for case in cases], sampling_rate=rate if form == "array" else None,
                   padding=True, return_tensors="np")
        np.testing.assert_allclose(got["input_values"], expected["input_values"], atol=1e-5, rtol=0,
                                   err_msg=f"{form} at {rate} Hz")
        np.testing.assert_array_equal(got["attention_mask"], expected["attention_mask"])


def test_wav2vec2_padding_options(audio):
    """Lengths 0.1 s to 0.4 s: each padding / truncation option against transformers."""
    waves = [hf_load_audio(case["path"], sampling_rate=16000)[: 1600 * (i + 1)] for i, case in enumerate(audio[:4])]
    waves[3] = waves[3] + 0.25  # an offset: normalisation must take it out
    for options in ({"return_attention_mask": False}, {"return_attention_mask": True}):
        hf = transformers.Wav2Vec2FeatureExtractor(**options)
        ours = Wav2Vec2FeatureExtractor(**options)
        for call in ({}, {"padding": True}, {"padding": "max_length", "max_length": 5000, "truncation": True},
                     {"padding": True, "pad_to_multiple_of": 1000},
                     {"padding": "longest", "return_attention_mask": True}):
            expected = hf(waves, sampling_rate=16000, **call)
            got = ours(waves, sampling_rate=16000, **call)
            assert sorted(got) == sorted(expected), call
            for key in expected:
                assert len(got[key]) == len(expected[key])
                for ours_row, hf_row in zip(got[key], expected[key]):
                    np.testing.assert_allclose(ours_row, hf_row, atol=1e-5, rtol=0, err_msg=f"{options} {call} {key}")
    ragged = np.empty(len(waves), dtype=object)  # numpy's batch of rows of different lengths
    ragged[:] = waves
    np.testing.assert_array_equal(ours(ragged, sampling_rate=16000, padding=True, return_tensors="np")["input_values"],
                                  ours(waves, sampling_rate=16000, padding=True, return_tensors="np")["input_values"])
    # do_normalize=False keeps the samples; one example is a batch of one.
    single = Wav2Vec2FeatureExtractor(do_normalize=False)(waves[1], sampling_rate=16000, return_tensors="np")
    np.testing.assert_array_equal(single["input_values"], waves[1][None])


def test_whisper_matches_transformers(audio):
    """30-second windows (the default) for every rate and channel layout; ``longest`` and do_normalize."""
    hf = transformers.WhisperFeatureExtractor(feature_size=80)
    ours = WhisperFeatureExtractor(feature_size=80)
    cases = [case for case in audio if case["name"].startswith(("tone", "silence", "stereo_chirp"))]
    expected = hf(hf_reference(cases), sampling_rate=16000, return_attention_mask=True, return_tensors="np")
    got = ours([our_input(case, form) for case, form in zip(cases, ["dict", "path", "bytes"] * len(cases))],
               return_attention_mask=True, return_tensors="np")
    assert got["input_features"].shape == (len(cases), 80, 3000)
    np.testing.assert_allclose(got["input_features"], expected["input_features"], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(got["attention_mask"], expected["attention_mask"])

    others = [case for case in audio if case["name"].startswith(("noise", "chirp", "stereo_noise"))]
    waves = [wave[: 1234 * (i % 5 + 1)] for i, wave in enumerate(hf_reference(others))]  # lengths not multiples of 160
    for call in ({"padding": "longest", "return_attention_mask": True},
                 {"padding": "longest", "do_normalize": True, "return_attention_mask": True},
                 {"max_length": 4000, "do_normalize": True, "return_attention_mask": True}):
        expected = hf(waves, sampling_rate=16000, return_tensors="np", **call)
        got = ours(waves, sampling_rate=16000, return_tensors="np", **call)
        np.testing.assert_allclose(got["input_features"], expected["input_features"], atol=1e-4, rtol=0, err_msg=call)
        np.testing.assert_array_equal(got["attention_mask"], expected["attention_mask"])


def test_whisper_128_mels_and_no_mask():
    hf = transformers.WhisperFeatureExtractor(feature_size=128, chunk_length=2)
    ours = WhisperFeatureExtractor(feature_size=128, chunk_length=2)
    wave = signals(16000)["chirp"].astype(np.float32)
    expected = hf(wave, sampling_rate=16000, return_tensors="np")
    got = ours(wave, sampling_rate=16000, return_tensors="np")
    assert list(got) == ["input_features"] and got["input_features"].shape == (1, 128, 200)
    np.testing.assert_allclose(got["input_features"], expected["input_features"], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(ours.mel_filters, hf.mel_filters)


class StandInAudioDecoder:
    """The part of torchcodec's ``AudioDecoder`` (datasets 4 rows) that load_audio reads.

    torchcodec needs FFmpeg, which these machines lack; load_audio duck-types the decoder.
    """

    class _Samples:
        def __init__(self, data, sample_rate):
            self.data, self.sample_rate = data, sample_rate

    def __init__(self, path):
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
        self._samples = self._Samples(samples.T, rate)  # (channels, samples), as torchcodec

    def get_all_samples(self):
        return self._samples


def test_inputs_of_every_kind_agree(audio):
    """Array + rate, datasets dicts (decoded or not), bytes, path, os.PathLike, a decoder, a tensor."""
    case = next(case for case in audio if case["name"] == "stereo_chirp@22050")
    mono = next(case for case in audio if case["name"] == "tone@8000")
    extractor = Wav2Vec2FeatureExtractor()
    reference = extractor(case["path"], return_tensors="np")["input_values"]
    with open(case["path"], "rb") as handle:
        data = handle.read()
    for value in (data, {"bytes": data, "path": "clip.flac"}, {"path": case["path"], "bytes": None},
                  pathlib.Path(case["path"]), StandInAudioDecoder(case["path"])):
        np.testing.assert_array_equal(extractor(value, return_tensors="np")["input_values"], reference)
    reference = extractor(mono["array"], sampling_rate=8000, return_tensors="np")["input_values"]
    tensor = keras.ops.convert_to_tensor(mono["array"])
    for value, rate in ((mono["array"].tolist(), 8000), (tensor, 8000),
                        ({"raw": mono["array"], "sampling_rate": 8000}, None)):
        np.testing.assert_allclose(extractor(value, sampling_rate=rate, return_tensors="np")["input_values"],
                                   reference, atol=1e-6)


def test_return_tensors_on_this_backend(audio):
    wave = audio[0]["array"]
    wav2vec2 = Wav2Vec2FeatureExtractor(return_attention_mask=True)([wave, wave[:800]], sampling_rate=8000,
                                                                     padding=True, return_tensors=FRAMEWORK)
    whisper = WhisperFeatureExtractor(chunk_length=1)(wave, sampling_rate=8000, return_tensors=FRAMEWORK)
    for value, shape in ((wav2vec2["input_values"], (2, 6400)), (wav2vec2["attention_mask"], (2, 6400)),
                         (whisper["input_features"], (1, 80, 100))):
        assert keras.ops.is_tensor(value) or type(value).__module__.startswith(("torch", "tensorflow", "jax"))
        assert tuple(value.shape) == shape
    assert keras.ops.convert_to_numpy(wav2vec2["attention_mask"]).sum() == 6400 + 1600  # 0.4 s and 0.1 s at 16 kHz


def test_save_load_round_trip(tmp_path):
    for ours, hf_class in ((Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True),
                            transformers.Wav2Vec2FeatureExtractor),
                           (WhisperFeatureExtractor(feature_size=128, chunk_length=10),
                            transformers.WhisperFeatureExtractor)):
        folder = tmp_path / type(ours).__name__
        ours.save_pretrained(folder)
        assert type(ours).from_pretrained(folder) == ours
        assert AutoFeatureExtractor.from_pretrained(folder) == ours
        with open(folder / "preprocessor_config.json") as handle:
            saved = json.load(handle)
        assert "mel_filters" not in saved and saved["feature_extractor_type"] == type(ours).__name__
        hf = hf_class.from_pretrained(folder)  # transformers loads what we save
        assert {key: getattr(hf, key) for key in saved if key != "feature_extractor_type"} == {
            key: value for key, value in saved.items() if key != "feature_extractor_type"}


def test_auto_feature_extractor_from_folders_transformers_saved(tmp_path):
    wave = signals(16000)["noise"].astype(np.float32)
    for hf in (transformers.Wav2Vec2FeatureExtractor(padding_value=0.5, return_attention_mask=True),
               transformers.WhisperFeatureExtractor(feature_size=128, chunk_length=5)):
        folder = tmp_path / type(hf).__name__
        hf.save_pretrained(folder)
        ours = AutoFeatureExtractor.from_pretrained(folder)
        assert type(ours).__name__ == type(hf).__name__
        expected, got = hf(wave, sampling_rate=16000, return_tensors="np"), ours(wave, sampling_rate=16000,
                                                                                  return_tensors="np")
        name = hf.model_input_names[0]
        np.testing.assert_allclose(got[name], expected[name], atol=1e-4, rtol=0)
    # Files saved by transformers 4.2x hold the mel filters: ignored, recomputed.
    config = transformers.WhisperFeatureExtractor().to_dict()
    config["mel_filters"] = [[0.0] * 80] * 201
    assert "mel_filters" not in WhisperFeatureExtractor.from_dict(config).to_dict()


def test_other_rate_is_resampled_unless_resample_false(audio, caplog):
    tone = next(case for case in audio if case["name"] == "tone@44100")
    extractor = Wav2Vec2FeatureExtractor()
    with caplog.at_level("INFO", logger="keras_tfm.processing.audio_utils"):
        extractor(tone["array"], sampling_rate=44100)
    assert "44100 Hz to 16000 Hz" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="keras_tfm.processing.feature_extraction"):
        extractor(tone["path"])  # a file carries its rate: no warning
        assert not caplog.records
        extractor(tone["array"])  # bare samples without a rate: taken to be 16 kHz, with a warning
    assert "strongly recommended to pass the `sampling_rate`" in caplog.text
    for value, rate in ((tone["array"], 44100), ({"array": tone["array"], "sampling_rate": 44100}, None),
                        (tone["path"], None)):
        with pytest.raises(ValueError, match=r"raw_speech.* 44100 Hz but 16000 Hz .*resample=False"):
            extractor(value, sampling_rate=rate, resample=False)
        with pytest.raises(ValueError, match="44100 Hz but 16000 Hz"):
            WhisperFeatureExtractor()([value], sampling_rate=rate, resample=False)


def test_bad_input_errors_name_the_input(tmp_path):
    extractor = Wav2Vec2FeatureExtractor()
    good = np.zeros(160, dtype=np.float32)
    text_file = tmp_path / "notes.wav"
    text_file.write_text("not audio")
    truncated = tmp_path / "cut.flac"
    soundfile.write(truncated, good, 16000)
    truncated.write_bytes(truncated.read_bytes()[:20])
    cases = [
        (np.zeros(0, dtype=np.float32), ValueError, r"raw_speech\[1\]: the audio is empty"),
        (np.array([0.0, np.nan, np.inf]), ValueError, r"raw_speech\[1\]: the audio has 2 NaN / inf samples"),
        (np.zeros((2, 160)), ValueError,
         r"raw_speech\[1\]: expected mono audio.*shape \(2, 160\).*Average the channels"),
        ({"array": good}, ValueError, r"raw_speech\[1\].*needs 'sampling_rate'"),
        ({"array": good, "path": "a.wav"}, ValueError, r"raw_speech\[1\] \(a.wav\).*needs 'sampling_rate'"),
        (str(text_file), ValueError, r"raw_speech\[1\] \('.*notes.wav'\) as audio"),
        (str(truncated), ValueError, r"cut.flac'\) as audio"),
        (b"RIFF....WAVE", ValueError, r"bytes of raw_speech\[1\] as audio"),
        (str(tmp_path / "missing.wav"), FileNotFoundError, r"raw_speech\[1\]: no audio file at .*missing.wav"),
        ({"text": "hello"}, ValueError, r"raw_speech\[1\]: an audio dict needs 'array'.*\['text'\]"),
        (3.5, TypeError, r"raw_speech\[1\]: cannot read audio from a builtins.float"),
        (["a", "b"], ValueError, r"raw_speech\[1\]: samples must be real numbers"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            extractor([good, bad], sampling_rate=16000)
    with pytest.raises(ValueError, match=r"raw_speech: the audio has 1 NaN"):
        WhisperFeatureExtractor()(np.array([0.0, np.nan]), sampling_rate=16000)
    with pytest.raises(ValueError, match="empty batch"):
        extractor([])
    with pytest.raises(ValueError, match="the sampling_rate of inputs must be a positive whole number"):
        load_audio(good, sampling_rate=-16000, target_rate=8000)
    with pytest.raises(ValueError, match="is a URL"):
        load_audio("https://example.com/a.wav")
    with pytest.raises(ValueError, match="return_tensors='torch'"):
        extractor(good, sampling_rate=16000, return_tensors="torch")


def test_missing_audio_packages_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "soxr", None)  # as if soxr were not installed
    with pytest.raises(ImportError, match=r'pip install "keras-tfm\[audio\]"'):
        load_audio(np.zeros(100), sampling_rate=8000, target_rate=16000)
