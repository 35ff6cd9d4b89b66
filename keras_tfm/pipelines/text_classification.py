"""``text-classification`` (alias ``sentiment-analysis``): a label and a score for a text or text pair."""

import numpy as np

from keras_tfm.pipelines.base import Pipeline, check_text, sigmoid, softmax

FUNCTIONS = ("softmax", "sigmoid", "none")


class TextClassificationPipeline(Pipeline):
    """Classifies texts with any ``*ForSequenceClassification`` model.

    Example:
        >>> classifier = pipeline("sentiment-analysis", model=folder)
        >>> classifier("We are very happy to show you the Transformers library.")
        [{'label': 'POSITIVE', 'score': 0.9998}]

    Call arguments: ``top_k`` (1 by default; None for every label, best first),
    ``function_to_apply`` ("softmax", "sigmoid" or "none"; by default sigmoid for
    multi-label or single-label models, softmax otherwise, none for regression), and
    tokenizer arguments (``truncation``, ``max_length``...). A text pair is a dict
    ``{"text": ..., "text_pair": ...}``.
    """

    output_keys = ("logits",)
    _load_tokenizer = True

    def _sanitize_parameters(self, function_to_apply=None, top_k="", **tokenizer_kwargs):
        tokenizer_kwargs.pop("return_tensors", None)
        postprocess = {}
        if isinstance(top_k, (int, np.integer)) and not isinstance(top_k, bool) or top_k is None:
            if top_k is not None and top_k < 1:
                raise ValueError(f"top_k must be >= 1 or None (every label), got {top_k}.")
            postprocess["top_k"] = top_k
            postprocess["_legacy"] = False
        elif top_k != "":
            raise ValueError(f"top_k must be an int or None, got {top_k!r}.")
        if function_to_apply is not None:
            postprocess["function_to_apply"] = check_function_to_apply(function_to_apply)
        return tokenizer_kwargs, {}, postprocess

    def __call__(self, inputs, **kwargs):
        """Classifies one text (-> a list with one dict), a dict pair, or a list of them."""
        result = super().__call__(inputs, **kwargs)
        if isinstance(inputs, str) and "top_k" not in kwargs:
            return [result]  # HF's legacy shape for a single text
        return result

    def preprocess(self, inputs, **tokenizer_kwargs):
        if isinstance(inputs, dict):
            if "text" not in inputs or set(inputs) - {"text", "text_pair"}:
                raise ValueError(
                    "A text pair is a dict with the keys 'text' and 'text_pair' "
                    f"(got keys {sorted(inputs)})."
                )
            check_text(self.task, inputs["text"])
            if inputs.get("text_pair") is not None:
                check_text(self.task, inputs["text_pair"])
            return self.tokenizer(inputs["text"], inputs.get("text_pair"), **tokenizer_kwargs)
        if isinstance(inputs, (list, tuple)):
            raise ValueError(
                "The pipeline received invalid inputs: to send a text pair, pass a dictionary "
                '{"text": "My text", "text_pair": "My pair"}.'
            )
        check_text(self.task, inputs, "a str or a dict {'text', 'text_pair'}")
        return self.tokenizer(inputs, **tokenizer_kwargs)

    def postprocess(self, outputs, function_to_apply=None, top_k=1, _legacy=True):
        scores = apply_function(function_to_apply or default_function(self.model.config),
                                outputs["logits"].astype("float64"))
        id2label = self.model.config.id2label
        if top_k == 1 and _legacy:
            best = int(scores.argmax())
            return {"label": label_name(id2label, best), "score": float(scores[best])}
        results = [{"label": label_name(id2label, i), "score": float(s)} for i, s in enumerate(scores)]
        if not _legacy:
            results.sort(key=lambda r: r["score"], reverse=True)
            if top_k is not None:
                results = results[:top_k]
        return results


def check_function_to_apply(function_to_apply):
    """``function_to_apply`` (a str of FUNCTIONS, any case, or HF's ClassificationFunction) as a lower-case name."""
    name = getattr(function_to_apply, "value", function_to_apply)
    if not isinstance(name, str) or name.lower() not in FUNCTIONS:
        raise ValueError(f"function_to_apply={function_to_apply!r} is not one of {FUNCTIONS}.")
    return name.lower()


def default_function(config):
    """What a classification model's scores go through by default, as transformers: none for
    regression, sigmoid for multi-label or single-label models, softmax otherwise."""
    problem_type = getattr(config, "problem_type", None)
    if problem_type == "regression":
        return "none"
    if problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    if problem_type == "single_label_classification" or config.num_labels > 1:
        return "softmax"
    return getattr(config, "function_to_apply", None) or "none"


def apply_function(name, logits):
    """``logits`` through the function ``name`` of FUNCTIONS (on the last axis)."""
    if name == "softmax":
        return softmax(logits)
    if name == "sigmoid":
        return sigmoid(logits)
    return logits


def label_name(id2label, index):
    """The label of class ``index`` (``LABEL_<index>`` when ``id2label`` has none)."""
    return id2label.get(index, id2label.get(str(index), f"LABEL_{index}"))
