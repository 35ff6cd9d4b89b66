"""Checks and shapes the text given to a tokenizer, and the ids given back to decode."""

import numpy as np

from keras_tfm.processing.batch import to_numpy


def batch_inputs(text, text_pair, is_split_into_words, names=("text", "text_pair")):
    """Checks the inputs; returns (batched, list of texts or (text, pair) tuples).

    ``names`` are the argument names errors give (``("text_target", "text_pair_target")`` for targets).
    """
    name, pair_name = names
    batched = check_text(name, text, is_split_into_words)
    if text_pair is not None:
        pair_batched = check_text(pair_name, text_pair, is_split_into_words)
        if batched != pair_batched:
            raise ValueError(f"{name} and {pair_name} must both be single texts or both be batches (lists).")
        if batched and len(text) != len(text_pair):
            raise ValueError(
                f"{name} has {len(text)} items but {pair_name} has {len(text_pair)}: they must match."
            )
    if batched:
        return True, list(zip(text, text_pair)) if text_pair is not None else list(text)
    # As transformers: an empty text_pair counts as no pair.
    return False, [(text, text_pair)] if text_pair else [text]


def check_text(name, value, is_split_into_words):
    """Whether ``value`` is a batch; raises ValueError naming the wrong type."""
    def is_words(x):
        return isinstance(x, (list, tuple)) and all(isinstance(w, str) for w in x)

    unit = "a list of words (str)" if is_split_into_words else "a str"
    if is_split_into_words:
        if is_words(value):
            return False
    elif isinstance(value, str):
        return False
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if not (is_words(item) if is_split_into_words else isinstance(item, str)):
                raise ValueError(f"{name}[{i}] must be {unit}, got {type(item).__name__}: {item!r:.80}.")
        return True
    raise ValueError(f"{name} must be {unit} or a list of them (a batch), got {type(value).__name__}: {value!r:.80}.")


def ids_to_python(ids):
    """Lists of ints from lists, numpy arrays, or PyTorch / TensorFlow / JAX tensors."""
    if isinstance(ids, (list, tuple)):
        return [ids_to_python(i) for i in ids]
    if isinstance(ids, (int, np.integer)):
        return int(ids)
    return to_numpy(ids).tolist()


def clean_up_tokenization(text):
    """Removes the spaces WordPiece decoding leaves before punctuation and contractions."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text
