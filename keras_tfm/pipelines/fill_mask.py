"""``fill-mask``: the most likely tokens for the mask token(s) of a text."""

import logging

import numpy as np

from keras_tfm.pipelines.base import Pipeline, check_text, softmax

logger = logging.getLogger(__name__)


class FillMaskPipeline(Pipeline):
    """Fills the mask token with any ``*ForMaskedLM`` model.

    Example:
        >>> unmasker = pipeline("fill-mask", model=folder)
        >>> unmasker("This is a simple [MASK].")
        [{'score': 0.042, 'token': 3291, 'token_str': 'problem', 'sequence': 'this is a simple problem.'}, ...]

    Call arguments: ``top_k`` (5 by default), ``targets`` (a word or list of words to
    score instead of the whole vocabulary), ``tokenizer_kwargs``. A text with several
    mask tokens gives one list of predictions per mask.
    """

    output_keys = ("logits",)
    _load_tokenizer = True
    token_output_keys = ("logits",)

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None):
        if self.tokenizer.mask_token_id is None:
            raise ValueError("The fill-mask pipeline needs a tokenizer with a mask token; "
                             f"{self.tokenizer.name_or_path!r} has none.")
        preprocess = {"tokenizer_kwargs": dict(tokenizer_kwargs)} if tokenizer_kwargs is not None else {}
        postprocess = {}
        if targets is not None:
            postprocess["target_ids"] = self.get_target_ids(targets)
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
            postprocess["top_k"] = int(top_k)
        return preprocess, {}, postprocess

    def __call__(self, inputs, **kwargs):
        """Fills one text (-> a list of dicts) or a list of texts (-> a list of lists)."""
        outputs = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return outputs[0]  # as Hugging Face does
        return outputs

    def preprocess(self, inputs, tokenizer_kwargs=None):
        check_text(self.task, inputs)
        kwargs = {k: v for k, v in (tokenizer_kwargs or {}).items() if k != "return_tensors"}
        encoded = self.tokenizer(inputs, **kwargs)
        if self.tokenizer.mask_token_id not in encoded["input_ids"]:
            raise ValueError(
                f"No mask_token ({self.tokenizer.mask_token}) found on the input: {inputs!r:.80}. "
                f"Put {self.tokenizer.mask_token} where the pipeline should predict a token."
            )
        return encoded

    def postprocess(self, outputs, top_k=5, target_ids=None):
        input_ids = np.asarray(outputs["input_ids"])
        masked = np.flatnonzero(input_ids == self.tokenizer.mask_token_id)
        probs = softmax(outputs["logits"][masked].astype("float32"))  # (masks, vocab)
        if target_ids is not None:
            probs = probs[:, target_ids]
            top_k = min(top_k, len(target_ids))
        single = len(masked) == 1
        results = []
        for row, position in zip(probs, masked):
            best = np.argsort(-row, kind="stable")[:top_k]
            results.append([self._proposal(input_ids, position, row[b], b, target_ids, single) for b in best])
        return results[0] if single else results

    def _proposal(self, input_ids, position, score, index, target_ids, single):
        token = int(target_ids[index]) if target_ids is not None else int(index)
        tokens = input_ids.copy()
        tokens[position] = token
        tokens = tokens[tokens != self.tokenizer.pad_token_id]
        return {
            "score": float(score),
            "token": token,
            "token_str": self.tokenizer.decode([token]),
            "sequence": self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single),
        }

    def get_target_ids(self, targets):
        """Vocabulary ids of ``targets``; a word not in the vocabulary becomes its first token."""
        if isinstance(targets, str):
            targets = [targets]
        vocab = self.tokenizer.get_vocab()
        ids = []
        for target in targets:
            if target in vocab:
                ids.append(vocab[target])
                continue
            pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                    return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]
            if not pieces:
                logger.warning("The target %r does not exist in the model vocabulary; ignoring it.", target)
                continue
            logger.warning("The target %r does not exist in the model vocabulary; replacing it with %r.",
                           target, self.tokenizer.convert_ids_to_tokens(pieces[0]))
            ids.append(pieces[0])
        ids = sorted(set(ids))
        if not ids:
            raise ValueError("At least one target must be provided when targets is passed.")
        return np.array(ids)
