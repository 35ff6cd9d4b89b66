"""Preprocessing: text tokenizers (and, beside them, image and audio processors)."""

from keras_tfm.processing.tokenization import (
    AutoTokenizer,
    BatchEncoding,
    PreTrainedTokenizer,
    PreTrainedTokenizerFast,
)

__all__ = ["AutoTokenizer", "BatchEncoding", "PreTrainedTokenizer", "PreTrainedTokenizerFast"]
