"""Tones and words spelled in tones, made on demand: audio tasks that need no download.

``tones(n, sampling_rate=16000, seed=0)``: ``n`` noisy 0.25 s sines of one of three pitches
(``PITCHES``: low 300 Hz, mid 1200 Hz, high 3600 Hz, each +-5%), and their labels (indices into
``PITCH_NAMES``): an audio-classification task.

``tone_words(n, sampling_rate=16000, seed=0)``: ``n`` "spoken" words and their text, for speech
recognition. A word is 2 to 4 letters of a five-letter alphabet (``LETTERS``: each letter a pitch
between 300 Hz and 3.2 kHz, so that 8 kHz audio still holds them all); each letter sounds as a noisy
tone of 50-70 ms, with 15-30 ms of near-silence between letters and around the word. No letter follows
itself, so that every letter change is a pitch change. ``spell(word, ...)`` makes one such clip.

``write_audio(clips, sampling_rate, folder)``: the clips as 16-bit wav files (soundfile), for
``datasets``' Audio columns and the pipelines' file inputs.
"""

import os

import numpy as np

PITCHES = {"low": 300.0, "mid": 1200.0, "high": 3600.0}
PITCH_NAMES = list(PITCHES)
LETTERS = {"a": 300.0, "e": 520.0, "i": 900.0, "o": 1700.0, "u": 3200.0}  # about a factor 1.8 apart


def tone(freq, seconds, sampling_rate, rng):
    """A sine of ``freq`` Hz (+-5%) lasting ``seconds``, of random amplitude (0.3-1) and phase, in white noise
    (standard deviation 0.05): float32."""
    t = np.arange(int(round(seconds * sampling_rate))) / sampling_rate
    wave = rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * rng.uniform(0.95, 1.05) * t + rng.uniform(0, 2 * np.pi))
    return (wave + rng.normal(0, 0.05, t.shape)).astype("float32")


def tones(n, sampling_rate=16000, seed=0, seconds=0.25):
    """``n`` tones of ``PITCHES`` and their labels: (list of float32 arrays, int array of ``PITCH_NAMES`` indices)."""
    _check(n, sampling_rate)
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, len(PITCH_NAMES), n)
    return [tone(PITCHES[PITCH_NAMES[y]], seconds, sampling_rate, rng) for y in labels], labels


def random_word(rng, min_letters=2, max_letters=4):
    """A word of ``LETTERS``, ``min_letters`` to ``max_letters`` long, no letter twice in a row."""
    letters = list(LETTERS)
    word = [letters[rng.randint(len(letters))]]
    for _ in range(rng.randint(min_letters, max_letters + 1) - 1):
        word.append(letters[(letters.index(word[-1]) + rng.randint(1, len(letters))) % len(letters)])
    return "".join(word)


def spell(word, sampling_rate=16000, rng=None):
    """One clip "saying" ``word``: a tone per letter, short near-silent gaps between and around them."""
    unknown = sorted(set(word) - set(LETTERS))
    if not word or unknown:
        raise ValueError(f"spell: {word!r} must be a non-empty word of the letters {''.join(LETTERS)}"
                         + (f" (it has {''.join(unknown)!r})." if unknown else "."))
    rng = rng if rng is not None else np.random.RandomState(0)

    def gap():
        return rng.normal(0, 0.01, int(rng.uniform(0.015, 0.03) * sampling_rate)).astype("float32")

    parts = [gap()]
    for letter in word:
        parts += [tone(LETTERS[letter], rng.uniform(0.05, 0.07), sampling_rate, rng), gap()]
    return np.concatenate(parts)


def tone_words(n, sampling_rate=16000, seed=0, min_letters=2, max_letters=4):
    """``n`` spelled words: (list of float32 clips at ``sampling_rate``, list of their words)."""
    _check(n, sampling_rate)
    rng = np.random.RandomState(seed)
    words = [random_word(rng, min_letters, max_letters) for _ in range(n)]
    return [spell(word, sampling_rate, rng) for word in words], words


def write_audio(clips, sampling_rate, folder, prefix="clip", format="wav"):
    """Writes each clip to ``folder/<prefix><i>.<format>`` (16-bit PCM, samples clipped to [-1, 1]; "wav" or
    "flac"); returns the paths."""
    import soundfile

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, clip in enumerate(clips):
        path = os.path.join(folder, f"{prefix}{i}.{format}")
        soundfile.write(path, np.clip(clip, -1.0, 1.0), sampling_rate, subtype="PCM_16")
        paths.append(path)
    return paths


def _check(n, sampling_rate):
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a whole number of clips, got {n!r}.")
    if sampling_rate < 8000:
        raise ValueError(f"sampling_rate={sampling_rate}: tones up to 3.6 kHz need 8000 Hz or more.")
