"""``Wav2Vec2FeatureExtractor``: raw 16 kHz samples, zero-mean unit-variance per example, padded."""

import numpy as np

from keras_tfm.processing.batch import BatchFeature, check_return_tensors
from keras_tfm.processing.feature_extraction import SequenceFeatureExtractor
from keras_tfm.registry import register_processor


def zero_mean_unit_var_norm(input_values, lengths=None, padding_value=0.0):
    """Each example minus its mean, over sqrt(variance + 1e-7); transformers' ``zero_mean_unit_var_norm``.

    Args:
        input_values: 1-D float32 arrays.
        lengths: the number of real samples of each example (the rest is padding, set
            to ``padding_value``); None takes every sample, padding included.
        padding_value: what padding becomes.
    """
    normed = []
    for i, vector in enumerate(input_values):
        length = len(vector) if lengths is None else int(lengths[i])
        real = vector[:length]
        normed_vector = (vector - real.mean()) / np.sqrt(real.var() + 1e-7)
        normed_vector[length:] = padding_value
        normed.append(normed_vector)
    return normed


@register_processor("AutoFeatureExtractor", model_types=("wav2vec2",))
class Wav2Vec2FeatureExtractor(SequenceFeatureExtractor):
    """Wav2Vec2's feature extractor, as ``transformers.Wav2Vec2FeatureExtractor``.

    Args:
        feature_size: 1 (raw samples).
        sampling_rate: the rate the model was trained at (Hz).
        padding_value: the value padding fills ``input_values`` with.
        return_attention_mask: whether calls return ``attention_mask`` by default. Models
            with ``feat_extract_norm == "group"`` (wav2vec2-base) were trained without one.
        do_normalize: zero-mean unit-variance normalise each example.
        **kwargs: other keys of ``preprocessor_config.json``, kept.

    Example:
        >>> extractor = Wav2Vec2FeatureExtractor()
        >>> batch = extractor([np.zeros(16000), "speech.flac"], sampling_rate=16000, padding=True,
        ...                   return_tensors="np")
        >>> batch["input_values"].shape
        (2, 16000)
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, feature_size=1, sampling_rate=16000, padding_value=0.0, return_attention_mask=False,
                 do_normalize=True, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, **kwargs)
        self.do_normalize = do_normalize

    zero_mean_unit_var_norm = staticmethod(zero_mean_unit_var_norm)

    def __call__(self, raw_speech, padding=False, max_length=None, truncation=False, pad_to_multiple_of=None,
                 return_attention_mask=None, return_tensors=None, sampling_rate=None, resample=True, **kwargs):
        """Featurises one audio input or a batch: ``input_values`` (and ``attention_mask``).

        Args:
            raw_speech: one input or a list of them, each anything
                ``keras_tfm.processing.audio_utils.load_audio`` reads (1-D arrays, lists,
                tensors, paths, bytes, ``datasets`` rows, decoders); a 2-D array is a batch
                of rows.
            padding: False (default), True / "longest", or "max_length".
            max_length: the length to pad or truncate to.
            truncation: cut examples longer than ``max_length``.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_attention_mask: defaults to ``self.return_attention_mask``.
            return_tensors: "np", "pt", "tf", "jax", or None (lists of numpy arrays).
            sampling_rate: the rate of bare arrays; audio at another rate than
                ``self.sampling_rate`` is resampled.
            resample: False makes a rate that differs a ValueError instead.

        Normalisation follows transformers: over each example's real samples when the
        batch is padded with an attention mask, else over the whole (padded) row.
        """
        return_tensors = check_return_tensors(return_tensors)
        arrays, _ = self.load_raw_speech(raw_speech, sampling_rate, resample)
        padded = self.pad({"input_values": arrays}, padding=padding, max_length=max_length, truncation=truncation,
                          pad_to_multiple_of=pad_to_multiple_of, return_attention_mask=return_attention_mask,
                          return_tensors=None)
        input_values = [np.asarray(row, dtype=np.float32) for row in padded["input_values"]]
        attention_mask = padded.get("attention_mask")
        outputs = {}
        if self.do_normalize:
            masked = attention_mask is not None and self._padding_strategy(padding, max_length) is not None
            lengths = [int(np.sum(row)) for row in attention_mask] if masked else None
            input_values = zero_mean_unit_var_norm(input_values, lengths, self.padding_value)
        outputs["input_values"] = input_values
        if attention_mask is not None:
            outputs["attention_mask"] = [np.asarray(row, dtype=np.int32) for row in attention_mask]
        return BatchFeature(outputs, tensor_type=return_tensors)
