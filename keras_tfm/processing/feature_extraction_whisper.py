"""``WhisperFeatureExtractor``: 30-second windows of audio as log-mel spectrograms (80 or 128 bands)."""

import numpy as np

from keras_tfm.processing.audio_spectrogram import mel_filter_bank, whisper_log_mel, window_function
from keras_tfm.processing.batch import BatchFeature, check_return_tensors
from keras_tfm.processing.feature_extraction import SequenceFeatureExtractor
from keras_tfm.processing.feature_extraction_wav2vec2 import zero_mean_unit_var_norm
from keras_tfm.registry import register_processor

_GROUP = 8  # examples per STFT call: bounds the frame buffers (about 20 MB per 30-second example)


@register_processor("AutoFeatureExtractor", model_types=("whisper",))
class WhisperFeatureExtractor(SequenceFeatureExtractor):
    """Whisper's feature extractor, as ``transformers.WhisperFeatureExtractor``.

    Audio is padded with silence (or truncated) to ``chunk_length`` seconds, then turned
    into a log-mel spectrogram: periodic Hann window of ``n_fft``, power STFT every
    ``hop_length`` samples, Slaney mel filters up to 8 kHz, log10, floored at 8 below the
    example's maximum, (x + 4) / 4. Computed in numpy for the whole batch.

    Args:
        feature_size: mel bands (80; 128 for large-v3).
        sampling_rate: the model's rate (Hz).
        hop_length: samples between STFT frames.
        chunk_length: seconds of audio per window (``n_samples = chunk_length * sampling_rate``).
        n_fft: FFT (and window) size.
        padding_value: the sample value padding adds (silence).
        dither: standard deviation of Gaussian noise added to the samples (0: none).
        return_attention_mask: whether calls return ``attention_mask`` (per frame) by default.
        **kwargs: other keys of ``preprocessor_config.json``, kept (an old file's
            ``mel_filters`` is recomputed, not kept).

    Example:
        >>> extractor = WhisperFeatureExtractor()
        >>> extractor(np.zeros(16000), sampling_rate=16000, return_tensors="np")["input_features"].shape
        (1, 80, 3000)
    """

    model_input_names = ["input_features"]

    def __init__(self, feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400,
                 padding_value=0.0, dither=0.0, return_attention_mask=False, **kwargs):
        kwargs.pop("mel_filters", None)  # saved by transformers 4.2x; derived from the options below
        kwargs.pop("window", None)
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, **kwargs)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.chunk_length = chunk_length
        self.n_samples = chunk_length * sampling_rate
        self.nb_max_frames = self.n_samples // hop_length
        self.dither = dither
        self._window = window_function(n_fft, "hann")
        self._mel_filters = mel_filter_bank(1 + n_fft // 2, feature_size, 0.0, 8000.0, sampling_rate,
                                            norm="slaney", mel_scale="slaney")

    @property
    def mel_filters(self):
        """The mel filter bank, (n_fft // 2 + 1, feature_size)."""
        return self._mel_filters

    def log_mel_spectrogram(self, waveforms):
        """Log-mel features of equal-length signals (batch, samples): (batch, feature_size, samples // hop_length)."""
        waveforms = np.asarray(waveforms, dtype=np.float32)
        if self.dither:
            waveforms = waveforms + self.dither * np.random.standard_normal(waveforms.shape).astype(np.float32)
        return np.concatenate([whisper_log_mel(waveforms[i:i + _GROUP], self._mel_filters, self._window,
                                               self.hop_length) for i in range(0, len(waveforms), _GROUP)])

    def __call__(self, raw_speech, truncation=True, pad_to_multiple_of=None, return_tensors=None,
                 return_attention_mask=None, padding="max_length", max_length=None, sampling_rate=None,
                 do_normalize=None, resample=True, device="cpu", **kwargs):
        """Featurises one audio input or a batch: ``input_features`` (batch, feature_size, frames).

        Args:
            raw_speech: one input or a list of them, each anything
                ``keras_tfm.processing.audio_utils.load_audio`` reads; a 2-D array is a
                batch of rows.
            truncation: cut audio longer than ``max_length`` samples (default True).
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_tensors: "np", "pt", "tf", "jax", or None (numpy arrays).
            return_attention_mask: also return ``attention_mask`` (batch, frames): 1 on
                frames of real audio; defaults to ``self.return_attention_mask``.
            padding: "max_length" (default: ``max_length``, else ``n_samples`` samples),
                "longest" / True (the longest example), or False.
            max_length: samples to pad / truncate to (default ``n_samples``, 30 s).
            sampling_rate: the rate of bare arrays; other rates are resampled.
            do_normalize: zero-mean unit-variance normalise each example's samples first.
            resample: False makes a rate that differs a ValueError instead.
            device: "cpu" only (the features are computed in numpy).
        """
        if device not in (None, "cpu"):
            raise ValueError(f"device={device!r}: keras_tfm computes Whisper's features in numpy, on the CPU.")
        return_tensors = check_return_tensors(return_tensors)
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        arrays, _ = self.load_raw_speech(raw_speech, sampling_rate, resample)
        padded = self.pad({"input_features": arrays}, padding=padding, max_length=max_length or self.n_samples,
                          truncation=truncation, pad_to_multiple_of=pad_to_multiple_of,
                          return_attention_mask=True, return_tensors=None)
        waveforms = [np.asarray(row, dtype=np.float32) for row in padded["input_features"]]
        sample_mask = [np.asarray(row, dtype=np.int32) for row in padded["attention_mask"]]
        if do_normalize:
            waveforms = zero_mean_unit_var_norm(waveforms, [row.sum() for row in sample_mask], self.padding_value)

        if len({len(row) for row in waveforms}) == 1:
            features = self.log_mel_spectrogram(np.stack(waveforms))
        else:  # padding=False on audio of different lengths: one spectrogram per example
            features = [self.log_mel_spectrogram(row[None])[0] for row in waveforms]
        outputs = {"input_features": features}
        if return_attention_mask:
            # A frame per hop_length samples; the STFT's last frame is dropped.
            outputs["attention_mask"] = [row[::self.hop_length][:len(row) // self.hop_length] for row in sample_mask]
            if isinstance(features, np.ndarray):
                outputs["attention_mask"] = np.stack(outputs["attention_mask"])
        return BatchFeature(outputs, tensor_type=return_tensors)
