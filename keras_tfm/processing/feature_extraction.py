"""Feature extractors: ``FeatureExtractionMixin`` (loading / saving) and ``SequenceFeatureExtractor`` (padding).

A feature extractor turns raw signals (audio) into the features a model takes, with the
options of its ``preprocessor_config.json``. A model's feature extractor subclasses
``SequenceFeatureExtractor``, defines ``__call__(raw_speech, ...)`` (``self.load_raw_speech``
for audio of any form, features per example, then ``self.pad``) and registers itself with
``@register_processor("AutoFeatureExtractor")``.
"""

import logging
from collections.abc import Mapping

import numpy as np

from keras_tfm.processing.audio_utils import is_audio_decoder, load_audio_batch
from keras_tfm.processing.batch import BatchFeature, check_return_tensors, to_numpy
from keras_tfm.processing.json_config import PREPROCESSOR_CONFIG_FILE, JsonConfigMixin
from keras_tfm.processing.padding_truncation import check_side, padding_strategy, round_up

logger = logging.getLogger(__name__)


class FeatureExtractionMixin(JsonConfigMixin):
    """Loads a feature extractor from ``preprocessor_config.json`` and saves it back.

    transformers 5 also nests it under ``feature_extractor`` in ``processor_config.json``;
    that copy is read first. Every key of the file is kept (see ``JsonConfigMixin``).
    """

    config_file_name = PREPROCESSOR_CONFIG_FILE
    type_key = "feature_extractor_type"
    processor_config_key = "feature_extractor"


class SequenceFeatureExtractor(FeatureExtractionMixin):
    """Base of the feature extractors of sequences (audio): the options and ``pad``.

    Args:
        feature_size: size of one feature vector (1 for raw audio samples).
        sampling_rate: the sampling rate (Hz) the model expects.
        padding_value: the value padding fills features with.
        padding_side: "right" (default) or "left".
        return_attention_mask: whether ``pad`` returns an ``attention_mask`` by default.
        **kwargs: other keys of the config file, kept as attributes.
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, feature_size, sampling_rate, padding_value, **kwargs):
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.padding_value = padding_value
        self.padding_side = check_side("padding_side", kwargs.pop("padding_side", "right"))
        self.return_attention_mask = kwargs.pop("return_attention_mask", True)
        super().__init__(**kwargs)

    def pad(self, processed_features, padding=True, max_length=None, truncation=False, pad_to_multiple_of=None,
            return_attention_mask=None, return_tensors=None):
        """Pads (and truncates) variable-length features to one batch, as transformers does.

        The main input (``model_input_names[0]``) is padded along its first axis with
        ``padding_value`` on ``padding_side``; ``attention_mask`` (int32, 1 for real
        steps) is padded with 0, or made when missing. Other keys are kept per example.

        Args:
            processed_features: a dict of per-example features (1-D, or 2-D of
                ``feature_size`` columns; lists, arrays or tensors), or a list of dicts.
            padding: True / "longest", "max_length" (needs ``max_length``), or False /
                "do_not_pad".
            max_length: the length to pad or truncate to.
            truncation: cut examples longer than ``max_length``.
            pad_to_multiple_of: round the padded length up to a multiple of this.
            return_attention_mask: defaults to ``self.return_attention_mask``.
            return_tensors: "pt", "tf", "jax", "np"; None gives numpy arrays, or PyTorch
                tensors when the inputs are.

        Returns:
            A ``BatchFeature``.
        """
        if isinstance(processed_features, (list, tuple)) and processed_features and isinstance(
            processed_features[0], Mapping
        ):
            processed_features = {key: [example[key] for example in processed_features]
                                  for key in processed_features[0].keys()}
        if not isinstance(processed_features, Mapping):
            raise ValueError(
                "pad() takes a dict of features (or a list of dicts), got "
                f"{type(processed_features).__name__}."
            )
        main = self.model_input_names[0]
        if main not in processed_features:
            raise ValueError(f"pad() needs {main!r} among the features, got {list(processed_features.keys())}.")
        check_return_tensors(return_tensors)
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        if len(processed_features[main]) == 0:
            empty = dict(processed_features)
            if return_attention_mask:
                empty["attention_mask"] = []
            return BatchFeature(empty)
        if return_tensors is None:
            return_tensors = "pt" if _is_torch(_first_item(processed_features[main])) else "np"

        features = {key: _examples(value) for key, value in processed_features.items()}
        batch_size = len(features[main])
        if any(len(value) != batch_size for value in features.values()):
            raise ValueError(
                "pad(): the features have different batch sizes: "
                + ", ".join(f"{key}={len(value)}" for key, value in features.items())
            )
        strategy = self._padding_strategy(padding, max_length)
        examples = [self._truncate({key: value[i] for key, value in features.items()},
                                   max_length, pad_to_multiple_of, truncation) for i in range(batch_size)]
        if strategy == "longest":
            max_length = max(len(example[main]) for example in examples)
            strategy = "max_length"

        batch = {}
        for example in examples:
            padded = self._pad(example, max_length, strategy, pad_to_multiple_of, return_attention_mask)
            for key, value in padded.items():
                if getattr(value, "dtype", None) == np.float64:
                    value = value.astype(np.float32)
                batch.setdefault(key, []).append(value)
        return BatchFeature(batch, tensor_type=return_tensors)

    def load_raw_speech(self, raw_speech, sampling_rate=None, resample=True):
        """One audio input or a batch as a list of 1-D float32 arrays at ``self.sampling_rate``.

        Takes what ``keras_tfm.processing.audio_utils.load_audio`` takes (arrays, tensors,
        paths, bytes, ``datasets`` rows, decoders), or a list / 2-D array of them.
        ``sampling_rate`` is the rate of bare arrays; dicts, files and decoders carry their
        own. Audio at another rate is resampled (logged at info), or a ValueError naming
        both rates when ``resample`` is False.

        Returns:
            (list of arrays, whether ``raw_speech`` was a batch).
        """
        arrays, batched = load_audio_batch(raw_speech, sampling_rate, self.sampling_rate, "raw_speech", resample)
        if sampling_rate is None and any(_is_bare_samples(item) for item in (raw_speech if batched else [raw_speech])):
            logger.warning(
                "It is strongly recommended to pass the `sampling_rate` argument to `%s()`: arrays without it are "
                "taken to be at %d Hz, and a wrong rate fails silently.", type(self).__name__, self.sampling_rate
            )
        return arrays, batched

    def _padding_strategy(self, padding, max_length):
        strategy = padding_strategy(padding)
        if strategy == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length.")
        if strategy is not None and self.padding_value is None:
            raise ValueError(
                f"Asking to pad but {type(self).__name__} has no padding_value: set one, e.g. "
                "feature_extractor.padding_value = 0.0."
            )
        return strategy

    def _truncate(self, example, max_length, pad_to_multiple_of, truncation):
        """The example cut to ``max_length`` (rounded up to ``pad_to_multiple_of``) when ``truncation``."""
        if not truncation:
            return example
        if max_length is None:
            raise ValueError("truncation=True needs max_length.")
        max_length = round_up(max_length, pad_to_multiple_of)
        main = self.model_input_names[0]
        if len(example[main]) > max_length:
            example[main] = example[main][:max_length]
            if "attention_mask" in example:
                example["attention_mask"] = example["attention_mask"][:max_length]
        return example

    def _pad(self, example, max_length, strategy, pad_to_multiple_of, return_attention_mask):
        """One example padded to ``max_length`` (rounded up to ``pad_to_multiple_of``) on ``padding_side``."""
        main = self.model_input_names[0]
        values = example[main]
        if return_attention_mask and "attention_mask" not in example:
            example["attention_mask"] = np.ones(len(values), dtype=np.int32)
        if max_length is not None:
            max_length = round_up(max_length, pad_to_multiple_of)
        if strategy is None or len(values) >= max_length:
            return example
        missing = max_length - len(values)
        steps = (0, missing) if self.padding_side == "right" else (missing, 0)
        width = (steps,) + ((0, 0),) * (values.ndim - 1)  # pad the time axis only
        example[main] = np.pad(values, width, "constant", constant_values=self.padding_value)
        if "attention_mask" in example:
            example["attention_mask"] = np.pad(example["attention_mask"], steps)
        return example


def _is_bare_samples(value):
    """Whether ``value`` is samples without a rate (an array, list or tensor, not a file, dict or decoder)."""
    return not isinstance(value, (str, bytes, bytearray, memoryview, Mapping)) and not is_audio_decoder(value) and (
        hasattr(value, "__len__") or hasattr(value, "shape"))


def _examples(value):
    """Per-example numpy arrays of one feature (a batched array is kept as it is)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value[0], (int, float, np.number)):  # one number per example (labels...)
        return to_numpy(value)
    return [to_numpy(item) for item in value]


def _first_item(rows):
    """The first number or tensor of a batch of rows (skipping empty rows), to tell the input type."""
    first = rows[0]
    if isinstance(first, (list, tuple)):
        non_empty = [row for row in rows if len(row)]
        first = non_empty[0][0] if non_empty else first
    return first


def _is_torch(value):
    return type(value).__module__.split(".")[0] == "torch"
