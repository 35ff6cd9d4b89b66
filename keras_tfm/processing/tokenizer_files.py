"""Loading a tokenizer from its files and saving it back, in the layout ``transformers`` reads.

``from_pretrained`` loads ``tokenizer.json`` when a model has one, or builds the tokenizer
from ``vocab.txt`` (WordPiece), ``vocab.json`` + ``merges.txt`` (byte-level BPE) or
``spiece.model`` (SentencePiece, for T5);
``tokenizer_config.json`` (and a legacy ``special_tokens_map.json``) give its options.
``save_pretrained`` writes the three JSON files atomically.
"""

import contextlib
import json
import logging
import os

from tokenizers import AddedToken, Tokenizer

from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.configuration_utils import pop_hub_kwargs, read_config_dict, write_json_file
from keras_tfm.processing import tokenizer_builders as builders
from keras_tfm.processing.json_config import check_save_directory
from keras_tfm.processing.special_tokens import (
    SPECIAL_TOKENS_ATTRIBUTES,
    added_token,
    extra_special_tokens_from_config,
    special_tokens_from_config,
    tokens_to_register,
)
from keras_tfm.utils.io import atomic_write_text, saves_a_folder

logger = logging.getLogger(__name__)


class TokenizerError(ValueError):
    """A tokenizer file that cannot be read; the message names the file."""

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"  # legacy: {token: id} of the tokens added to the vocabulary

# Keys of tokenizer_config.json that describe where files were, not how to tokenize.
_NOT_SAVED_KEYS = {
    "name_or_path",
    "tokenizer_file",
    "vocab_file",
    "merges_file",
    "special_tokens_map_file",
    "added_tokens_decoder",
    "additional_special_tokens",
    "is_local",
    "local_files_only",
    "files_loaded",
    "tokenizer_class",
    "auto_map",
}


class TokenizerFilesMixin:
    """``from_pretrained`` / ``save_pretrained`` of the tokenizer (it reads ``self._tokenizer``...)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the tokenizer of a local folder or hub id (see ``AutoTokenizer.from_pretrained``)."""
        path = os.fspath(pretrained_model_name_or_path)
        config, find = read_tokenizer_config(
            path, kwargs, f"A tokenizer needs {TOKENIZER_FILE}, or vocab.txt (WordPiece), or vocab.json + "
            "merges.txt (byte-level BPE), or spiece.model (T5)."
        )
        config_file = find(TOKENIZER_CONFIG_FILE) or TOKENIZER_CONFIG_FILE
        with reading_tokenizer_files(config_file):
            tokenizer_class = config.get("tokenizer_class") or _class_from_model_config(find("config.json"))
            tokenizer_file = find(TOKENIZER_FILE)
            family = builders.family_of(tokenizer_class)
            if tokenizer_file is None and family is None:
                family = builders.family_from_files(lambda name: find(name) is not None)
                tokenizer_class = builders.FAMILY_CLASS.get(family)
            config["tokenizer_class"] = tokenizer_class
            special = special_tokens_from_config(config, family)
            added = tokens_to_register(config, family, extra_special_tokens_from_config(config, family))
        if tokenizer_file is not None:
            try:
                backend = Tokenizer.from_file(tokenizer_file)
            except Exception as error:  # the tokenizers library raises a bare Exception for a bad file
                raise TokenizerError(f"{tokenizer_file} cannot be read by the tokenizers library: "
                                     f"{(str(error).splitlines() or [type(error).__name__])[0]}") from None
            if family is not None:
                with reading_tokenizer_files(config_file, tokenizer_file):
                    builders.apply_family(backend, family, config, special, added)
        else:
            files = _vocab_files(path, find, family, tokenizer_class)
            logger.info("Building a %s tokenizer from %s (no %s).", family, ", ".join(files), TOKENIZER_FILE)
            with reading_tokenizer_files(*files.values(), config_file):
                backend = builders.build_tokenizer(family, files, config, special, added)
        with reading_tokenizer_files(config_file):
            return cls(backend, name_or_path=path, **config)

    @saves_a_folder
    def save_pretrained(self, save_directory, filename_prefix=None):
        """Writes tokenizer_config.json, special_tokens_map.json and tokenizer.json (atomically).

        The folder loads back here and in ``transformers.AutoTokenizer``. Returns the paths written.
        """
        save_directory = check_save_directory(save_directory)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        paths = [os.path.join(save_directory, prefix + name)
                 for name in (TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_FILE)]
        write_json_file(paths[0], self._config_to_save(), ensure_ascii=False, default=added_token_json)
        write_json_file(paths[1], self._special_tokens_to_save(), ensure_ascii=False, default=added_token_json)
        atomic_write_text(paths[2], self._tokenizer.to_str(pretty=True))
        logger.info("Tokenizer saved in %s", save_directory)
        return tuple(paths)

    def _config_to_save(self):
        config = {k: v for k, v in self.init_kwargs.items() if k not in _NOT_SAVED_KEYS}
        config.update(self._options_from_backend())
        config.update(
            model_max_length=self.model_max_length,
            padding_side=self.padding_side,
            truncation_side=self.truncation_side,
            model_input_names=self.model_input_names,
            clean_up_tokenization_spaces=self.clean_up_tokenization_spaces,
        )
        for name in SPECIAL_TOKENS_ATTRIBUTES:
            config.pop(name, None)
        config.update(self.special_tokens_map)
        if self._extra_special_tokens:
            config["extra_special_tokens"] = list(self._extra_special_tokens)
        config["tokenizer_class"] = self.tokenizer_class or "PreTrainedTokenizerFast"
        return config

    def _special_tokens_to_save(self):
        tokens = dict(self.special_tokens_map)
        if self._extra_special_tokens:
            tokens["extra_special_tokens"] = list(self._extra_special_tokens)
        return tokens

    def _options_from_backend(self):
        """Config options that transformers rebuilds a known class from, read from tokenizer.json.

        transformers 5 rebuilds BERT normalization and byte-level options from
        tokenizer_config.json, so they must agree with what tokenizer.json does.
        """
        spec = json.loads(self._tokenizer.to_str())
        family = builders.family_of(self.tokenizer_class)
        options = {}
        normalizer = spec.get("normalizer") or {}
        if family == builders.WORDPIECE and normalizer.get("type") == "BertNormalizer":
            options["do_lower_case"] = normalizer["lowercase"]
            options["strip_accents"] = normalizer["strip_accents"]
            options["tokenize_chinese_chars"] = normalizer["handle_chinese_chars"]
        pre_tokenizer = spec.get("pre_tokenizer") or {}
        if family in (builders.ROBERTA, builders.GPT2) and pre_tokenizer.get("type") == "ByteLevel":
            options["add_prefix_space"] = pre_tokenizer["add_prefix_space"]
        post = spec.get("post_processor") or {}
        if family == builders.ROBERTA and post.get("type") == "RobertaProcessing":
            options["trim_offsets"] = post["trim_offsets"]
        return options


@contextlib.contextmanager
def reading_tokenizer_files(*paths):
    """Any error from reading or building a tokenizer out of ``paths`` becomes a TokenizerError naming them.

    The builders meet whatever a stranger's files hold: bytes that are not UTF-8, tokens of the wrong
    type, a vocabulary the tokenizers library refuses (a bare ``Exception``). An ImportError (a package
    to install) and a missing file (ModelNotFoundError) keep their own types.
    """
    try:
        yield
    except (TokenizerError, ModelNotFoundError, ImportError):
        raise
    except Exception as error:
        first_line = (str(error).splitlines() or [""])[0][:300]
        raise TokenizerError(f"{' + '.join(map(str, paths))}: cannot make a tokenizer of this "
                             f"({type(error).__name__}: {first_line})") from error


def read_tokenizer_config(path, kwargs, needs):
    """(tokenizer_config.json merged with a legacy special_tokens_map.json and ``kwargs``, ``find``).

    ``kwargs`` are from_pretrained's: hub arguments (taken out) and options that win over
    the files. ``find(filename)`` is the local path of a file of the folder / hub id, or None.
    ``needs`` (what the tokenizer needs) ends the error for a folder that does not exist.
    """
    hub = pop_hub_kwargs(kwargs)

    def find(filename):
        return resolve_file(path, filename, required=False, **hub)

    try:
        config = _read_json(find(TOKENIZER_CONFIG_FILE)) or {}
    except ModelNotFoundError as e:
        raise ModelNotFoundError(f"Cannot load a tokenizer from {path!r}: {e} {needs}") from None
    if "added_tokens_decoder" not in config:
        # Legacy folders keep special tokens in special_tokens_map.json, which then wins.
        for key, value in (_read_json(find(SPECIAL_TOKENS_MAP_FILE)) or {}).items():
            if key not in kwargs:
                config[key] = value
        legacy_added = _read_json(find(ADDED_TOKENS_FILE))
        if legacy_added:
            config["added_tokens_decoder"] = _added_tokens_decoder_from_legacy(legacy_added, config)
    config.update(kwargs)
    config.pop("name_or_path", None)
    return config, find


def _added_tokens_decoder_from_legacy(added_tokens, config):
    """added_tokens.json ({token: id}) as tokenizer_config.json's ``added_tokens_decoder``.

    A token is special when the config names it (named or extra special tokens), as transformers reads it.
    """
    special = {str(added_token(config[name])) for name in SPECIAL_TOKENS_ATTRIBUTES if config.get(name) is not None}
    special.update(extra_special_tokens_from_config(config))
    return {
        str(index): {"content": token, "special": token in special, "normalized": token not in special,
                     "lstrip": False, "rstrip": False, "single_word": False}
        for token, index in added_tokens.items()
    }


def _read_json(path):
    """The JSON object of a tokenizer file (None: no such file); a TokenizerError names a file that is not one."""
    if path is None:
        return None
    with reading_tokenizer_files(path):
        return read_config_dict(path)


def added_token_json(obj):
    """``json.dump``'s ``default=`` for tokenizer configs: an AddedToken passed as an option, as its dict."""
    if isinstance(obj, AddedToken):
        return obj.__getstate__()
    raise TypeError(f"Cannot save {type(obj).__name__} in a tokenizer config: {obj!r:.80}")


def _class_from_model_config(config_path):
    """tokenizer_class from config.json: its own ``tokenizer_class`` or its ``model_type``."""
    config = _read_json(config_path) or {}
    return config.get("tokenizer_class") or builders.MODEL_TYPE_TO_TOKENIZER_CLASS.get(config.get("model_type"))


def _vocab_files(path, find, family, tokenizer_class):
    """Paths of the vocabulary files of ``family``; a clear error naming what is missing."""
    files = {name: find(name) for name in builders.FAMILY_FILES.get(family, ())}
    if family is None and find("spiece.model") is not None:
        raise ModelNotFoundError(
            f"{path!r} has a SentencePiece spiece.model but no tokenizer class this library reads it as "
            f"(tokenizer_class={tokenizer_class!r}): name \"tokenizer_class\": \"T5Tokenizer\" in "
            f"{TOKENIZER_CONFIG_FILE} or \"model_type\": \"t5\" in config.json."
        )
    if family is None or None in files.values():
        missing = [name for name, found in files.items() if found is None]
        detail = f"; {tokenizer_class} needs {' + '.join(missing)}" if family is not None else ""
        raise ModelNotFoundError(
            f"{path!r} has no tokenizer files: looked for {TOKENIZER_FILE}, vocab.txt (WordPiece), "
            f"vocab.json + merges.txt (byte-level BPE) and spiece.model (T5){detail}."
        )
    return files
