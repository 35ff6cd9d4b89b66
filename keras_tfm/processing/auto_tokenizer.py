"""``AutoTokenizer``: the tokenizer of a model folder or hub id, like ``transformers.AutoTokenizer``.

Most models get the generic ``PreTrainedTokenizer``; a model whose tokenizer is more than
that (Wav2Vec2's CTC tokenizer, Whisper's) gets the class registered for
``"AutoTokenizer"`` (``keras_tfm.registry``) under the ``tokenizer_class`` that
tokenizer_config.json names, or under config.json's ``model_type`` when it names none.
"""

from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.config_checks import ConfigError
from keras_tfm.configuration_utils import CONFIG_NAME, pop_hub_kwargs
from keras_tfm.processing.json_config import read_json_beside_model
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer
from keras_tfm.registry import PROCESSOR_MODEL_TYPES, PROCESSORS


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
        A CTC character vocabulary (``vocab.json`` of Wav2Vec2) gives a ``Wav2Vec2CTCTokenizer``.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id (resolved through the
                huggingface_hub cache; ``revision``, ``cache_dir``, ``local_files_only``,
                ``token`` and ``subfolder`` are passed on).
            **kwargs: tokenizer_config.json keys to override (``model_max_length``,
                ``padding_side``, ``do_lower_case``, special tokens...).
        """
        kwargs.pop("use_fast", None)  # there is only the fast (Rust) tokenizer
        tokenizer_class = _registered_tokenizer_class(pretrained_model_name_or_path, kwargs)
        return tokenizer_class.from_pretrained(pretrained_model_name_or_path, **kwargs)


def _registered_tokenizer_class(path, kwargs):
    """The registered class for the folder's ``tokenizer_class`` (or model_type), else PreTrainedTokenizer."""
    if not PROCESSORS["AutoTokenizer"]:
        return PreTrainedTokenizer
    hub_kwargs = pop_hub_kwargs(dict(kwargs))
    try:
        config = read_json_beside_model(path, "tokenizer_config.json", required=False, **hub_kwargs) or {}
        model_config = read_json_beside_model(path, CONFIG_NAME, required=False, **hub_kwargs) or {}
    except (ModelNotFoundError, ConfigError):
        return PreTrainedTokenizer  # its from_pretrained says what is missing or unreadable
    name = kwargs.get("tokenizer_class") or config.get("tokenizer_class") or model_config.get("tokenizer_class")
    if not isinstance(name, (str, type(None))):
        return PreTrainedTokenizer  # its from_pretrained names the file with the bad tokenizer_class
    if name:
        base = name[: -len("Fast")] if name.endswith("Fast") else name
        # A class we have no subclass for is the generic tokenizer's business (tokenizer.json...).
        return PROCESSORS["AutoTokenizer"].get(base, PreTrainedTokenizer)
    return PROCESSOR_MODEL_TYPES["AutoTokenizer"].get(model_config.get("model_type"), PreTrainedTokenizer)
