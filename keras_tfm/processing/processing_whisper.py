"""``WhisperProcessor``: Whisper's log-mel feature extractor and tokenizer, as transformers' class."""

from keras_tfm.processing.processing_audio import SpeechProcessorMixin
from keras_tfm.registry import register_processor


@register_processor("AutoProcessor", model_types=("whisper",))
class WhisperProcessor(SpeechProcessorMixin):
    """A ``WhisperFeatureExtractor`` and a ``WhisperTokenizer`` as one processor.

    ``processor(audio=..., text=..., sampling_rate=16000)`` gives ``input_features`` with
    the transcription's ids (prefix tokens, text, ``<|endoftext|>``) as ``labels``.

    Example:
        >>> processor = AutoProcessor.from_pretrained("openai/whisper-tiny")
        >>> inputs = processor(audio=speech, sampling_rate=16000, return_tensors="np")
        >>> forced = processor.get_decoder_prompt_ids(language="french", task="transcribe")
    """

    tokenizer_options = ("language", "task", "predict_timestamps")

    def get_decoder_prompt_ids(self, task=None, language=None, no_timestamps=True):
        """The tokenizer's forced ``(position, token id)`` pairs for generation (see ``WhisperTokenizer``)."""
        return self.tokenizer.get_decoder_prompt_ids(task=task, language=language, no_timestamps=no_timestamps)

    def get_prompt_ids(self, text, return_tensors="np"):
        """The tokenizer's ids of a previous-text prompt (``<|startofprev|>`` + text)."""
        return self.tokenizer.get_prompt_ids(text, return_tensors=return_tensors)
