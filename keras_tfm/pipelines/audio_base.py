"""``AudioPipeline``: what the audio pipelines share (reading audio inputs, feature extraction, batching).

An input is anything ``keras_tfm.processing.audio_utils.load_audio`` reads: a 1-D numpy array,
list or tensor (taken to be at the feature extractor's sampling rate), a file path or the bytes
of a wav / flac / ogg file, a dict ``{"array" or "raw", "sampling_rate"}`` (a ``datasets`` 3
decoded row, transformers' pipeline dict), an undecoded ``datasets`` row ``{"path", "bytes"}``
(``Audio(decode=False)``, which needs neither torchcodec nor FFmpeg), or a torchcodec
``AudioDecoder`` (``datasets`` 4). A whole dataset row (a dict with an ``"audio"`` column) is
read from that column. Audio at another rate is resampled (soxr) to the extractor's rate.
Lists, generators, datasets and ``KeyDataset`` views stream through the base ``Pipeline``;
errors name the item at fault (``inputs[3]``).

Inputs of different lengths are padded in a batch with the extractor's ``padding_value``, and
with an ``attention_mask`` where the feature extractor makes one (as transformers batches
them; models whose extractor makes no mask, such as wav2vec2-base, see the zero padding).
"""

import numpy as np

from keras_tfm.pipelines.base import Pipeline, _is_stream

AUDIO_INPUTS = ("input_values", "input_features", "attention_mask")


class _Item:
    """One pipeline input with the name errors give it (``inputs`` or ``inputs[i]``)."""

    __slots__ = ("value", "name")

    def __init__(self, value, name):
        self.value = value
        self.name = name


class AudioPipeline(Pipeline):
    """Base of the audio pipelines: ``read_audio`` turns one input into a 1-D float32 waveform at
    the feature extractor's rate, ``extract`` into a feature holding the model inputs."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False
    # Masked audio is padded to a multiple of this many samples (a batch of n: of this / n; 0.5 s at 16 kHz),
    # so that a model compiled per input shape sees few shapes; the padding is masked and cut from the outputs.
    pad_to_multiple_of = 8192

    def __call__(self, inputs=None, *args, **kwargs):
        """Runs the pipeline on one audio input (-> one result), a list (-> a list) or a generator / dataset
        (-> a generator). ``audio=`` / ``raw=`` are accepted for ``inputs``."""
        for key in ("audio", "raw"):
            if key in kwargs and inputs is None:
                inputs = kwargs.pop(key)
        if inputs is None:
            raise ValueError(f"Cannot call the {self.task or type(self).__name__} pipeline without inputs: pass an "
                             "audio array, a file path, bytes, a dict with 'array' and 'sampling_rate', or a list "
                             "of them.")
        return super().__call__(_named(inputs), *args, **kwargs)

    def _record(self, item, preprocess_params):
        if not isinstance(item, _Item):  # run_single and subclasses calling _iterate directly
            item = _Item(item, "inputs")
        try:
            return super()._record(item.value, {**preprocess_params, "name": item.name})
        except (ValueError, TypeError) as error:
            if item.name in str(error):
                raise
            raise type(error)(f"{item.name}: {error}") from error

    @property
    def sampling_rate(self):
        """The rate the model's feature extractor takes."""
        return self.feature_extractor.sampling_rate

    def read_audio(self, audio, name="inputs"):
        """One input -> a 1-D float32 numpy waveform at the feature extractor's ``sampling_rate``."""
        from keras_tfm.processing.audio_utils import load_audio

        if isinstance(audio, dict) and "audio" in audio and not _is_audio_dict(audio):  # a dataset row
            audio, name = audio["audio"], f"{name}['audio']"
        return load_audio(audio, target_rate=self.sampling_rate, name=name)

    def extract(self, waveform, **kwargs):
        """The model inputs of a waveform: ``{name: array without the batch axis}`` (input_values or
        input_features, and the attention mask where the extractor makes one)."""
        features = self.feature_extractor(waveform, sampling_rate=self.sampling_rate, return_tensors="np", **kwargs)
        return {key: np.asarray(features[key])[0] for key in AUDIO_INPUTS if key in features}


def _named(inputs):
    """Wraps each input with its name for errors; keeps lists lists and streams lazy."""
    if isinstance(inputs, (list, tuple)):
        return [_Item(value, f"inputs[{i}]") for i, value in enumerate(inputs)]
    if _is_stream(inputs):
        return (_Item(value, f"inputs[{i}]") for i, value in enumerate(inputs))
    return _Item(inputs, "inputs")


def _is_audio_dict(value):
    return any(key in value for key in ("array", "raw", "bytes", "path", "sampling_rate"))


def feature_frames(config, num_samples):
    """How many frames a wav2vec2-style conv feature encoder makes of ``num_samples`` samples
    (``(length - kernel) // stride + 1`` per conv layer); None for a config without ``conv_kernel``."""
    kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
    if not kernels or not strides:
        return None
    length = int(num_samples)
    for kernel, stride in zip(kernels, strides):
        length = max(0, (length - kernel) // stride + 1)
    return length
