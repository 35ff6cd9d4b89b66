"""Spectrograms in numpy: windows, mel filter banks, the STFT power spectrogram, Whisper's log-mel.

The same numbers as transformers' ``audio_utils`` (``window_function``,
``mel_filter_bank``, ``spectrogram``), computed for a whole batch at once: the frames
are a strided view of the padded signal and one ``rfft`` call transforms them all,
where transformers loops over frames in Python.
"""

import numpy as np

MEL_SCALES = ("htk", "kaldi", "slaney")


def window_function(window_length, name="hann", periodic=True):
    """A window of ``window_length`` samples: "hann", "hamming" or "boxcar"; periodic (as torch) by default."""
    length = window_length + 1 if periodic else window_length
    windows = {"hann": np.hanning, "hann_window": np.hanning, "hamming": np.hamming, "hamming_window": np.hamming,
               "boxcar": np.ones}
    if name not in windows:
        raise ValueError(f"Unknown window function {name!r}; use one of {sorted(windows)}.")
    window = windows[name](length)
    return window[:-1] if periodic else window


def _check_mel_scale(mel_scale):
    if mel_scale not in MEL_SCALES:
        raise ValueError(f"mel_scale={mel_scale!r} is not one of {MEL_SCALES}.")


def hertz_to_mel(freq, mel_scale="htk"):
    """Frequencies (Hz, float or array) on the mel scale "htk", "kaldi" or "slaney"."""
    _check_mel_scale(mel_scale)
    freq = np.asarray(freq, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    if mel_scale == "kaldi":
        return 1127.0 * np.log(1.0 + freq / 700.0)
    # Slaney: linear below 1 kHz, logarithmic above.
    log_region = freq >= 1000.0
    logs = 15.0 + np.log(np.where(log_region, freq, 1000.0) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(log_region, logs, 3.0 * freq / 200.0)


def mel_to_hertz(mels, mel_scale="htk"):
    """Mels (float or array) back to Hz; the inverse of ``hertz_to_mel``."""
    _check_mel_scale(mel_scale)
    mels = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (np.power(10, mels / 2595.0) - 1.0)
    if mel_scale == "kaldi":
        return 700.0 * (np.exp(mels / 1127.0) - 1.0)
    log_region = mels >= 15.0
    hertz = 1000.0 * np.exp(np.log(6.4) / 27.0 * (np.where(log_region, mels, 15.0) - 15.0))
    return np.where(log_region, hertz, 200.0 * mels / 3.0)


def mel_filter_bank(num_frequency_bins, num_mel_filters, min_frequency, max_frequency, sampling_rate, norm=None,
                    mel_scale="htk"):
    """Triangular mel filters, shape (num_frequency_bins, num_mel_filters), as transformers' ``mel_filter_bank``.

    Args:
        num_frequency_bins: bins of the spectrogram (``n_fft // 2 + 1``).
        num_mel_filters: mel bands.
        min_frequency, max_frequency: the band edges (Hz).
        sampling_rate: the audio's rate (Hz).
        norm: "slaney" scales each filter to constant energy (area); None leaves peaks at 1.
        mel_scale: "htk", "kaldi" or "slaney".
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"norm={norm!r} is not valid; use None or 'slaney'.")
    if num_frequency_bins < 2 or min_frequency > max_frequency:
        raise ValueError(f"mel_filter_bank needs num_frequency_bins >= 2 (got {num_frequency_bins}) and "
                         f"min_frequency <= max_frequency (got {min_frequency} > {max_frequency}).")
    mel_edges = np.linspace(hertz_to_mel(min_frequency, mel_scale), hertz_to_mel(max_frequency, mel_scale),
                            num_mel_filters + 2)
    filter_freqs = mel_to_hertz(mel_edges, mel_scale)  # (M + 2,) left edge, centres, right edge
    fft_freqs = np.linspace(0, sampling_rate // 2, num_frequency_bins)
    filter_diff = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]  # (bins, M + 2)
    down = -slopes[:, :-2] / filter_diff[:-1]
    up = slopes[:, 2:] / filter_diff[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        filters *= 2.0 / (filter_freqs[2:] - filter_freqs[:-2])[None, :]
    return filters


def power_spectrogram(waveforms, window, hop_length, center=True, pad_mode="reflect", num_frames=None):
    """|STFT|^2 of a batch of equal-length signals: (batch, frames, n_fft // 2 + 1), float64.

    As ``transformers.audio_utils.spectrogram(power=2.0)`` (and ``torch.stft``) with the
    FFT size the window's length: with ``center`` the signal is padded by n_fft // 2 on
    each side and frame t starts at t * hop_length of the padded signal.

    Args:
        waveforms: (batch, samples) array.
        window: (n_fft,) window.
        hop_length: the step between frames.
        center: pad so that frame t is centred on sample t * hop_length.
        pad_mode: numpy's pad mode for ``center`` ("reflect" as torch and transformers).
        num_frames: keep only the first frames (Whisper drops the last one).
    """
    waveforms = np.asarray(waveforms, dtype=np.float64)
    n_fft = len(window)
    if center:
        waveforms = np.pad(waveforms, ((0, 0), (n_fft // 2, n_fft // 2)), mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(waveforms, n_fft, axis=-1)[:, ::hop_length]  # (B, F, n_fft)
    if num_frames is not None:
        frames = frames[:, :num_frames]
    spectrum = np.fft.rfft(frames * window, axis=-1)
    return spectrum.real**2 + spectrum.imag**2


def whisper_log_mel(waveforms, mel_filters, window, hop_length):
    """Whisper's log-mel features of a batch of equal-length signals: (batch, n_mels, samples // hop_length).

    log10 of the mel power spectrogram (floored at 1e-10), floored again at 8 below
    each example's maximum, then (x + 4) / 4; the last STFT frame is dropped, as
    OpenAI's Whisper and transformers do.
    """
    waveforms = np.asarray(waveforms)
    num_frames = waveforms.shape[-1] // hop_length
    power = power_spectrogram(waveforms, window, hop_length, num_frames=num_frames)  # (B, F, bins)
    batch, frames, bins = power.shape
    mel = np.dot(power.reshape(batch * frames, bins), mel_filters)  # one 2-D BLAS call: faster than a batched @
    log_spec = np.log10(np.maximum(mel, 1e-10)).reshape(batch, frames, -1).transpose(0, 2, 1)  # (B, n_mels, F)
    peak = log_spec.max(axis=(1, 2), keepdims=True)
    log_spec = np.maximum(log_spec, peak - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
