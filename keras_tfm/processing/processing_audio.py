"""``SpeechProcessorMixin``: a feature extractor and a tokenizer called as one, as speech processors are.

Unlike the generic processor (which merges every part's output), a speech processor
returns the features of ``audio`` with the ids of ``text`` as their ``labels`` (the
training targets), the features alone, or the tokenizer's encoding alone, as
transformers' ``Wav2Vec2Processor`` and ``WhisperProcessor`` do.
"""

from keras_tfm.configuration_utils import pop_hub_kwargs
from keras_tfm.processing.auto_tokenizer import AutoTokenizer
from keras_tfm.processing.processing_utils import ProcessorMixin, _call_options


class SpeechProcessorMixin(ProcessorMixin):
    """A processor of ``feature_extractor`` (audio) and ``tokenizer`` (text, and decoding)."""

    attributes = ["feature_extractor", "tokenizer"]
    # from_pretrained options that are the tokenizer's (``language="hindi"`` for Whisper fine-tuning).
    tokenizer_options = ()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads both parts (see ``ProcessorMixin.from_pretrained``); ``tokenizer_options`` go to the tokenizer."""
        options = {key: kwargs.pop(key) for key in cls.tokenizer_options if key in kwargs}
        if options and "tokenizer" not in kwargs:
            hub_kwargs = pop_hub_kwargs(dict(kwargs))
            kwargs["tokenizer"] = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **hub_kwargs, **options)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def __call__(self, audio=None, text=None, *, return_tensors=None, **kwargs):
        """Featurises ``audio`` and tokenizes ``text`` (the targets).

        Args:
            audio: one audio input or a batch (anything the feature extractor takes:
                arrays, file paths, bytes, ``datasets`` rows...).
            text: the transcription(s), tokenized as ``labels``.
            return_tensors: "pt", "tf", "jax", "np" or None, for both parts.
            **kwargs: options, each sent to every part whose call takes it
                (``sampling_rate`` to the feature extractor; ``padding`` to both...).

        Returns:
            The feature extractor's ``BatchFeature`` with ``labels`` when both are given;
            else the output of the one part called.
        """
        if audio is None and text is None:
            raise ValueError(f"{type(self).__name__} needs audio= (speech) or text= (its transcription) to process.")
        options = {name: _call_options(getattr(self, name)) for name in self.attributes}
        unknown = sorted(key for key in kwargs if not any(key in names for names in options.values()))
        if unknown:
            raise ValueError(f"{type(self).__name__} got option(s) {unknown} that neither its feature extractor "
                             "nor its tokenizer takes.")

        def call(name, value):
            part_options = {key: v for key, v in kwargs.items() if key in options[name]}
            return getattr(self, name)(value, return_tensors=return_tensors, **part_options)

        inputs = None if audio is None else call("feature_extractor", audio)
        encodings = None if text is None else call("tokenizer", text)
        if encodings is None:
            return inputs
        if inputs is None:
            return encodings
        inputs["labels"] = encodings["input_ids"]
        return inputs
