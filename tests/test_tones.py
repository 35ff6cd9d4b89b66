"""``keras_tfm.data.tones``: the pitches of the tones and of the letters of spelled words, words' shapes,
seeding, files written and read back, errors."""

import numpy as np
import pytest

from keras_tfm.data.tones import LETTERS, PITCH_NAMES, PITCHES, spell, tone_words, tones, write_audio


def band_energy(clip, rate, freq):
    """The share of the clip's spectral energy within +-8% of ``freq``."""
    power = np.abs(np.fft.rfft(clip)) ** 2
    bins = np.fft.rfftfreq(len(clip), 1 / rate)
    return power[np.abs(bins - freq) <= 0.08 * freq].sum() / power.sum()


@pytest.mark.parametrize("rate", [8000, 22050])
def test_tones_have_their_labels_pitch(rate):
    clips, labels = tones(12, sampling_rate=rate, seed=5)
    assert len(clips) == 12 and labels.shape == (12,) and set(labels) <= set(range(len(PITCH_NAMES)))
    for clip, label in zip(clips, labels):
        assert clip.dtype == np.float32 and clip.shape == (int(0.25 * rate),)
        assert band_energy(clip, rate, PITCHES[PITCH_NAMES[label]]) > 0.7
    again, same = tones(12, sampling_rate=rate, seed=5)
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate(clips))
    np.testing.assert_array_equal(same, labels)


def test_spelled_words_sound_their_letters():
    clips, words = tone_words(30, sampling_rate=8000, seed=2)
    assert len(set(words)) > 15
    for clip, word in zip(clips, words):
        assert 2 <= len(word) <= 4 and set(word) <= set(LETTERS)
        assert all(a != b for a, b in zip(word, word[1:]))  # no letter twice in a row
        letters, gaps = len(word), len(word) + 1
        assert 0.05 * letters + 0.015 * gaps <= len(clip) / 8000 <= 0.07 * letters + 0.03 * gaps
        for letter, pitch in LETTERS.items():  # each letter sounds, and only the word's letters
            energy = band_energy(clip, 8000, pitch)
            assert energy > 0.03 if letter in word else energy < 0.01, (word, letter, energy)
    assert tone_words(3, seed=2)[1] == words[:3]  # the words do not depend on the rate


def test_write_audio_reads_back(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    clips, _ = tone_words(2, sampling_rate=8000, seed=1)
    paths = write_audio(clips, 8000, tmp_path / "out", prefix="word", format="flac")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["word0.flac", "word1.flac"]
    for path, clip in zip(paths, clips):
        data, rate = soundfile.read(path, dtype="float32")
        assert rate == 8000
        np.testing.assert_allclose(data, np.clip(clip, -1, 1), atol=1e-4)  # 16-bit samples, clipped to [-1, 1]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'aex'.*'x'"):
        spell("aex")
    with pytest.raises(ValueError, match="non-empty"):
        spell("")
    with pytest.raises(ValueError, match="sampling_rate=4000"):
        tones(2, sampling_rate=4000)
    with pytest.raises(ValueError, match="whole number"):
        tone_words(2.5)
