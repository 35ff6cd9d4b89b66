"""``image-classification``: the top labels of an image, with their scores."""

import numpy as np

from keras_tfm.pipelines.text_classification import apply_function, check_function_to_apply, default_function, \
    label_name
from keras_tfm.pipelines.vision_base import ImagePipeline


class ImageClassificationPipeline(ImagePipeline):
    """Classifies images with any ``*ForImageClassification`` model.

    Example:
        >>> classifier = pipeline("image-classification", model="google/vit-base-patch16-224")
        >>> classifier("parrots.png", top_k=2)
        [{'label': 'macaw', 'score': 0.442}, {'label': 'popinjay', 'score': 0.088}]

    Call arguments: ``top_k`` (5 by default, at most the number of labels; best first),
    ``function_to_apply`` ("softmax", "sigmoid" or "none"; by default sigmoid for multi-label
    or single-label models, softmax otherwise, none for regression), ``timeout`` (seconds to
    fetch a URL).
    """

    output_keys = ("logits",)

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None):
        preprocess = {"timeout": timeout} if timeout is not None else {}
        postprocess = {}
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
            postprocess["top_k"] = int(top_k)
        if function_to_apply is not None:
            postprocess["function_to_apply"] = check_function_to_apply(function_to_apply)
        return preprocess, {}, postprocess

    def postprocess(self, outputs, function_to_apply=None, top_k=5):
        config = self.model.config
        scores = apply_function(function_to_apply or default_function(config), outputs["logits"].astype("float32"))
        results = [{"label": label_name(config.id2label, i), "score": float(score)} for i, score in enumerate(scores)]
        results.sort(key=lambda result: result["score"], reverse=True)
        return results[:min(top_k, config.num_labels)]
