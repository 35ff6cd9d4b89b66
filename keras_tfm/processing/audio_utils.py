"""Audio input: every form a user or ``datasets`` hands over, as one 1-D float32 mono numpy array.

``load_audio`` is the one entry point the feature extractors and the audio pipelines
share. It takes:

- 1-D numpy arrays, lists of numbers and PyTorch / TensorFlow / JAX tensors (their rate
  is ``sampling_rate``; when that is None they are taken to be at ``target_rate``, as
  transformers does);
- ``bytes`` of a wav / flac / ogg / mp3 file and ``str`` / ``os.PathLike`` file paths
  (decoded with ``soundfile``; several channels are averaged to mono, as ``datasets``
  and librosa do);
- dicts ``{"array" or "raw", "sampling_rate", "path"?}`` (a ``datasets`` 3 decoded
  row, transformers' pipeline dict) and undecoded ``datasets`` rows ``{"path",
  "bytes"}`` (``Audio(decode=False)``), which need no FFmpeg nor torchcodec;
- decoders that look like ``torchcodec.decoders.AudioDecoder`` (``datasets`` 4 rows):
  ``get_all_samples()`` giving ``.data`` (channels, samples) and ``.sample_rate``.
  torchcodec is never imported here.

Resampling uses soxr ("HQ", as ``librosa.load`` and transformers' ``load_audio``). Integer
samples become float32 unscaled, as transformers' extractors take them.
Bad input (empty audio, NaN / inf samples, a 2-D array, an unreadable file, a dict
without ``sampling_rate``, an unknown type) raises an error that names the input.
"""

import importlib
import io
import logging
import math
import os
from collections.abc import Mapping

import numpy as np

from keras_tfm.processing.batch import to_numpy

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "keras-tfm[audio]"'
_RESAMPLE_QUALITY = "HQ"  # soxr's "soxr_hq": what librosa.load and transformers' load_audio use


def _require(module_name, purpose):
    """``module_name`` imported, or an ImportError saying how to install it."""
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the {module_name!r} package: {INSTALL_HINT}") from error


def check_sampling_rate(rate, name="sampling_rate"):
    """``rate`` as an int (Hz); ValueError naming ``name`` unless it is a positive whole number."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number of samples per second, got {rate!r}.")
    if not rate > 0 or int(rate) != rate:
        raise ValueError(f"{name} must be a positive whole number of samples per second, got {rate!r}.")
    return int(rate)


def resample(array, orig_rate, target_rate):
    """``array`` (1-D) resampled from ``orig_rate`` to ``target_rate`` with soxr (quality "HQ").

    The result has ``ceil(len(array) * target_rate / orig_rate)`` samples, as
    ``librosa.load`` and transformers' ``load_audio`` give.
    """
    orig_rate = check_sampling_rate(orig_rate, "orig_rate")
    target_rate = check_sampling_rate(target_rate, "target_rate")
    array = np.asarray(array, dtype=np.float32)
    if orig_rate == target_rate:
        return array
    soxr = _require("soxr", "Resampling audio")
    length = math.ceil(array.shape[-1] * target_rate / orig_rate)
    resampled = soxr.resample(array, orig_rate, target_rate, quality=_RESAMPLE_QUALITY)
    return np.pad(resampled, (0, max(0, length - len(resampled))))[:length]


def read_audio_file(source, name="inputs"):
    """Decodes a file path or the bytes of a file with soundfile: (mono float32 array, its sampling rate).

    Several channels are averaged to mono.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not audio soundfile can read (the message names it).
    """
    soundfile = _require("soundfile", "Reading audio files and bytes")
    if isinstance(source, (bytes, bytearray, memoryview)):
        handle, what = io.BytesIO(bytes(source)), f"the bytes of {name}"
    else:
        handle = os.fspath(source)
        what = f"{name} ({handle!r})" if name != handle else repr(handle)
        if not os.path.isfile(handle):
            raise FileNotFoundError(f"{name}: no audio file at {handle!r}.")
    try:
        with soundfile.SoundFile(handle) as audio_file:
            rate = audio_file.samplerate
            samples = audio_file.read(dtype="float32", always_2d=True)  # (T, C)
    except (RuntimeError, TypeError, ValueError) as error:  # soundfile.LibsndfileError is a RuntimeError
        raise ValueError(
            f"Cannot decode {what} as audio: soundfile (libsndfile) reads wav, flac, ogg and mp3; other "
            f"formats (m4a, aac, video) need converting first ({error})."
        ) from None
    return (samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]), rate


def is_audio_decoder(value):
    """Whether ``value`` looks like a torchcodec ``AudioDecoder`` (what ``datasets`` 4 rows are)."""
    return callable(getattr(value, "get_all_samples", None))


def load_audio(value, sampling_rate=None, target_rate=None, name="inputs", resample=True):
    """One audio input as a 1-D float32 mono numpy array, at ``target_rate`` (or its own rate when None).

    Args:
        value: a 1-D array / list / tensor, ``bytes`` of a file, a file path, a dict
            ``{"array" or "raw", "sampling_rate"}`` or ``{"path", "bytes"}``, or a
            torchcodec-like decoder (see the module docstring).
        sampling_rate: the rate of a bare array / list / tensor; None means ``target_rate``.
            Dicts, files and decoders carry their own rate.
        target_rate: the rate to resample to; None keeps the input's rate.
        name: how errors name the input ("inputs[3]"...).
        resample: False raises a ValueError naming both rates instead of resampling.

    Returns:
        A contiguous float32 numpy array of shape (samples,).

    Raises:
        ValueError: empty audio, NaN / inf samples, a 2-D array, a file that is not
            audio, a dict without "sampling_rate", a rate that differs with
            ``resample=False``.
        FileNotFoundError: a path that does not exist.
        TypeError: a value of another type.
        ImportError: soundfile / soxr are needed and missing.
    """
    array, rate, name = _decode(value, sampling_rate, name)
    array = _check_samples(array, name)
    if rate is None or target_rate is None:
        return array
    rate = check_sampling_rate(rate, f"the sampling_rate of {name}")
    target_rate = check_sampling_rate(target_rate, "target_rate")
    if rate == target_rate:
        return array
    if not resample:
        raise ValueError(
            f"{name} is sampled at {rate} Hz but {target_rate} Hz is expected, and resampling is off "
            f"(resample=False): resample it to {target_rate} Hz, or allow resampling."
        )
    logger.info("Resampling %s from %d Hz to %d Hz.", name, rate, target_rate)
    return np.ascontiguousarray(_resample(array, rate, target_rate))


_resample = resample  # load_audio's ``resample`` argument shadows the function


def _decode(value, sampling_rate, name):
    """(samples as they come, their rate or None, the name errors use) of one input."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return (*read_audio_file(value, name), name)
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if path.startswith(("http://", "https://")):
            raise ValueError(f"{name}: {path!r} is a URL; download the file and pass its path or bytes.")
        return (*read_audio_file(path, name), f"{name} ({path})")
    if isinstance(value, Mapping):
        return _decode_dict(value, name)
    if is_audio_decoder(value):
        samples = value.get_all_samples()
        data = to_numpy(samples.data)  # (channels, samples)
        data = data.mean(axis=0) if data.ndim == 2 else data
        return data, samples.sample_rate, name
    if isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__array__") or hasattr(value, "detach"):
        return value, sampling_rate, name
    raise TypeError(
        f"{name}: cannot read audio from a {type(value).__module__}.{type(value).__name__}. Pass a 1-D numpy "
        "array / list / tensor of samples, a file path, the bytes of an audio file, a dict "
        '{"array", "sampling_rate"} or {"path", "bytes"} (a datasets Audio row), or an AudioDecoder.'
    )


def _decode_dict(value, name):
    path = value.get("path")
    where = f"{name} ({path})" if path else name
    array = value.get("array", value.get("raw"))
    if array is not None:
        if value.get("sampling_rate") is None:
            key = "array" if "array" in value else "raw"
            raise ValueError(f"{where}: a dict of samples needs 'sampling_rate' beside its {key!r} (it has "
                             f"{sorted(value)}).")
        return array, value["sampling_rate"], where
    if value.get("bytes") is not None:  # an undecoded datasets row (Audio(decode=False))
        return (*read_audio_file(value["bytes"], where), where)
    if path:
        return (*read_audio_file(path, name), where)
    raise ValueError(
        f"{name}: an audio dict needs 'array' (or 'raw') and 'sampling_rate', or 'bytes' or 'path' of a file; "
        f"it has {sorted(value)}."
    )


def _check_samples(array, name):
    """``array`` as contiguous 1-D float32, or a ValueError naming ``name``."""
    try:
        array = to_numpy(array)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: cannot read its samples as a numpy array ({error}).") from None
    if array.dtype == object or array.dtype.kind not in "iuf":
        raise ValueError(f"{name}: samples must be real numbers, got an array of dtype {array.dtype}.")
    if array.ndim == 0:
        raise ValueError(f"{name}: expected a 1-D array of samples, got a single number.")
    if array.ndim != 1:
        raise ValueError(
            f"{name}: expected mono audio, a 1-D array of samples, got shape {tuple(array.shape)}. Average the "
            "channels (e.g. array.mean(axis=0) for (channels, samples)) or pick one channel."
        )
    if array.size == 0:
        raise ValueError(f"{name}: the audio is empty (0 samples).")
    array = np.ascontiguousarray(array, dtype=np.float32)
    finite = np.isfinite(array)
    if not finite.all():
        first = int(np.argmin(finite))
        raise ValueError(
            f"{name}: the audio has {int(array.size - finite.sum())} NaN / inf samples (the first at index {first})."
        )
    return array


def is_single_audio(value):
    """Whether ``value`` is one audio input (else a batch of them: a list / tuple / 2-D array of inputs).

    A list of numbers is one input; a list whose items are arrays, lists, paths,
    bytes, dicts, tensors or decoders is a batch, as are 2-D arrays / tensors (rows)
    and numpy object arrays (ragged rows).
    """
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and isinstance(value[0], (int, float, np.number))
    if isinstance(value, np.ndarray) and value.dtype == object:  # numpy's ragged batch: one array per item
        return value.ndim == 0
    ndim = getattr(value, "ndim", None)
    if ndim is None and hasattr(value, "shape"):
        ndim = len(value.shape)
    return ndim is None or ndim <= 1


def load_audio_batch(raw_audio, sampling_rate=None, target_rate=None, name="raw_speech", resample=True):
    """One input or a batch as a list of 1-D float32 arrays at ``target_rate``, and whether it was a batch.

    Each item goes through ``load_audio`` (errors name it ``name[i]``); a 2-D array or
    tensor is a batch of rows, as transformers' feature extractors read it.
    """
    if is_single_audio(raw_audio):
        return [load_audio(raw_audio, sampling_rate, target_rate, name, resample)], False
    if len(raw_audio) == 0:
        raise ValueError(f"{name} is an empty batch: pass at least one audio input.")
    return [load_audio(item, sampling_rate, target_rate, f"{name}[{i}]", resample)
            for i, item in enumerate(raw_audio)], True


def audio_duration(array, sampling_rate):
    """The duration in seconds of ``array`` (its last axis is time) at ``sampling_rate``."""
    return np.shape(array)[-1] / check_sampling_rate(sampling_rate)
