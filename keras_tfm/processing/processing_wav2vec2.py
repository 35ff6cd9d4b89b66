"""``Wav2Vec2Processor``: Wav2Vec2's feature extractor and CTC tokenizer, as transformers' class."""

from keras_tfm.processing.processing_audio import SpeechProcessorMixin
from keras_tfm.registry import register_processor


@register_processor("AutoProcessor", model_types=("wav2vec2",))
class Wav2Vec2Processor(SpeechProcessorMixin):
    """A ``Wav2Vec2FeatureExtractor`` and a ``Wav2Vec2CTCTokenizer`` as one processor.

    ``processor(audio=..., text=..., sampling_rate=16000)`` gives ``input_values`` (and
    ``attention_mask``) with the transcription's ids as ``labels``; ``batch_decode`` /
    ``decode`` are the tokenizer's CTC decoding (offsets included).

    Example:
        >>> processor = AutoProcessor.from_pretrained("facebook/wav2vec2-base-960h")
        >>> inputs = processor(audio=speech, sampling_rate=16000, return_tensors="np")
        >>> processor.batch_decode(logits.argmax(-1))
    """

    tokenizer_options = ("do_lower_case", "word_delimiter_token", "target_lang")

    def pad(self, *args, **kwargs):
        """Pads features with the feature extractor and ``labels`` with the tokenizer (a collator's step).

        Args:
            input_features (or the first positional argument): features for the feature
                extractor's ``pad`` (a list of dicts or a dict of lists).
            labels: tokenized labels for the tokenizer's ``pad``.
            **kwargs: options for both ``pad`` calls (``padding``, ``return_tensors``...).

        Returns:
            The padded features with the padded ``labels`` ids, or what the one part padded.
        """
        input_features = kwargs.pop("input_features", None)
        labels = kwargs.pop("labels", None)
        if args:
            input_features, args = args[0], args[1:]
        if input_features is None and labels is None:
            raise ValueError("Wav2Vec2Processor.pad needs input_features (the first argument) or labels=.")
        if input_features is not None:
            input_features = self.feature_extractor.pad(input_features, *args, **kwargs)
        if labels is not None:
            labels = self.tokenizer.pad(labels, **kwargs)
        if labels is None:
            return input_features
        if input_features is None:
            return labels
        input_features["labels"] = labels["input_ids"]
        return input_features

    @property
    def model_input_names(self):
        """The feature extractor's inputs and ``labels`` (the model takes no text ids)."""
        return list(self.feature_extractor.model_input_names) + ["labels"]
