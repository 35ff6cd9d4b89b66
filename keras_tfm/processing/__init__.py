"""Preprocessing: text tokenizers (and, beside them, image and audio processors)."""

from keras_tfm.processing.auto_tokenizer import AutoTokenizer
from keras_tfm.processing.batch import BatchEncoding, BatchFeature
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer, PreTrainedTokenizerFast

__all__ = ["AutoTokenizer", "BatchEncoding", "BatchFeature", "PreTrainedTokenizer", "PreTrainedTokenizerFast"]
