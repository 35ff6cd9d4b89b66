"""``AutoTokenizer``: the tokenizer of a model folder or hub id, like ``transformers.AutoTokenizer``."""

from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer


class AutoTokenizer:
    """Loads the tokenizer of a model folder or hub id, like ``transformers.AutoTokenizer``."""

    def __init__(self):
        raise OSError("AutoTokenizer is built with AutoTokenizer.from_pretrained(path_or_hub_id).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the tokenizer of a local folder or hub id.

        ``tokenizer.json`` is used when the model has one; otherwise the tokenizer is built
        from ``vocab.txt`` (WordPiece), ``vocab.json`` + ``merges.txt`` (byte-level BPE), or
        ``spiece.model`` (T5's SentencePiece model; needs ``pip install "keras-tfm[sentencepiece]"``).

        Args:
            pretrained_model_name_or_path: a folder, or a hub id (resolved through the
                huggingface_hub cache; ``revision``, ``cache_dir``, ``local_files_only``,
                ``token`` and ``subfolder`` are passed on).
            **kwargs: tokenizer_config.json keys to override (``model_max_length``,
                ``padding_side``, ``do_lower_case``, special tokens...).
        """
        kwargs.pop("use_fast", None)  # there is only the fast (Rust) tokenizer
        return PreTrainedTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
