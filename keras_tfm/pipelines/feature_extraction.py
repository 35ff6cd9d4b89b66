"""``feature-extraction``: the hidden states of the base model for each token of a text."""

import keras

from keras_tfm.pipelines.base import Pipeline, to_float_numpy, check_text


class FeatureExtractionPipeline(Pipeline):
    """Extracts the last hidden states of any base model (``AutoModel``).

    Example:
        >>> extractor = pipeline("feature-extraction", model=folder)
        >>> features = extractor("This is a simple test.")  # nested lists [1][tokens][hidden]

    Call arguments: ``return_tensors=True`` (a backend tensor of shape (1, tokens,
    hidden) instead of nested lists), ``truncation``, ``tokenize_kwargs`` (a dict for
    the tokenizer).
    """

    output_keys = ("last_hidden_state",)
    _load_tokenizer = True
    token_output_keys = ("last_hidden_state",)

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None):
        tokenize_kwargs = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in tokenize_kwargs:
                raise ValueError("truncation is given twice: as an argument and in tokenize_kwargs.")
            tokenize_kwargs["truncation"] = truncation
        tokenize_kwargs.pop("return_tensors", None)
        postprocess = {"return_tensors": bool(return_tensors)} if return_tensors is not None else {}
        return tokenize_kwargs, {}, postprocess

    def preprocess(self, inputs, **tokenize_kwargs):
        if isinstance(inputs, dict):
            check_text(self.task, inputs.get("text"))
            return self.tokenizer(inputs["text"], inputs.get("text_pair"), **tokenize_kwargs)
        return self.tokenizer(check_text(self.task, inputs), **tokenize_kwargs)

    def _forward(self, batch):
        outputs = self.compiled_forward(**batch)
        # A base model's first output is last_hidden_state; other models give their first output.
        first = outputs["last_hidden_state"] if "last_hidden_state" in outputs else outputs.to_tuple()[0]
        return {"last_hidden_state": to_float_numpy(first)}

    def postprocess(self, outputs, return_tensors=False):
        hidden = outputs["last_hidden_state"][None]  # (1, tokens, hidden), as Hugging Face
        if return_tensors:
            return keras.ops.convert_to_tensor(hidden)
        return hidden.tolist()
