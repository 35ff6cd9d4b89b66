"""``audio-classification``: the top labels of an audio clip, with their scores."""

import numpy as np

from keras_tfm.pipelines.audio_base import AudioPipeline
from keras_tfm.pipelines.text_classification import apply_function, label_name

FUNCTIONS = ("softmax", "sigmoid", "none")


class AudioClassificationPipeline(AudioPipeline):
    """Classifies audio with any ``*ForSequenceClassification`` / ``*ForAudioClassification`` audio model.

    Example:
        >>> classifier = pipeline("audio-classification", model="superb/wav2vec2-base-superb-ks")
        >>> classifier("speech.flac", top_k=2)
        [{'score': 0.997, 'label': '_unknown_'}, {'score': 0.002, 'label': 'left'}]

    Call arguments (as transformers 5): ``top_k`` (a call without it gets every label, best first; a
    ``top_k`` above the number of labels gives them all), ``function_to_apply`` ("softmax",
    "sigmoid" or "none"; by default none for regression, sigmoid for multi-label models, softmax
    otherwise). Results: ``[{"score", "label"}]``.
    """

    output_keys = ("logits",)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("top_k", 5)  # transformers' init default (a call without top_k still gets every label)
        super().__init__(*args, **kwargs)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None):
        num_labels = self.model.config.num_labels
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"top_k must be a positive int or None, got {top_k!r}.")
        postprocess = {"top_k": num_labels if top_k is None else min(int(top_k), num_labels)}
        if function_to_apply is not None:
            if function_to_apply not in FUNCTIONS:
                raise ValueError(f"Invalid value for `function_to_apply`: {function_to_apply!r}. Valid options are "
                                 f"{list(FUNCTIONS)}.")
            postprocess["function_to_apply"] = function_to_apply
        return {}, {}, postprocess

    def preprocess(self, audio, name="inputs"):
        return self.extract(self.read_audio(audio, name))

    def postprocess(self, outputs, top_k=5, function_to_apply=None):
        config = self.model.config
        if function_to_apply is None:
            problem_type = getattr(config, "problem_type", None)
            function_to_apply = {"regression": "none", "multi_label_classification": "sigmoid"}.get(problem_type,
                                                                                                     "softmax")
        scores = apply_function(function_to_apply, outputs["logits"].astype("float32"))
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [{"score": float(scores[i]), "label": label_name(config.id2label, int(i))} for i in order]
