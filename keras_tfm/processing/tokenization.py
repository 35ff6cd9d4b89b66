"""Text tokenizers with the Hugging Face ``transformers`` API, on the ``tokenizers`` library.

``AutoTokenizer.from_pretrained(folder_or_hub_id)`` loads ``tokenizer.json`` when a model
has one, or builds the tokenizer from ``vocab.txt`` (WordPiece) or ``vocab.json`` +
``merges.txt`` (byte-level BPE) otherwise. Calling the tokenizer gives the same ids,
masks and offsets as ``transformers.AutoTokenizer`` on the same files, as Python lists or
as PyTorch, TensorFlow, JAX or NumPy tensors (``return_tensors``), whatever the Keras
backend. This module does not import Keras.
"""

import json
import logging
import os
import threading

import numpy as np
from tokenizers import AddedToken, Tokenizer

from keras_tfm.checkpoints.hub import ModelNotFoundError, resolve_file
from keras_tfm.configuration_utils import pop_hub_kwargs
from keras_tfm.processing import tokenizer_builders as builders
from keras_tfm.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"

VERY_LARGE_INTEGER = int(1e30)  # model_max_length of a model without a limit (as transformers)
LARGE_INTEGER = int(1e20)

SPECIAL_TOKENS_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
RETURN_TENSORS = ("pt", "tf", "jax", "np")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")

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


class BatchEncoding(dict):
    """The output of a tokenizer: a dict of ``input_ids``, ``attention_mask``... with attribute access.

    Unpacks into a model with ``model(**batch)``. ``batch.encodings`` holds the
    ``tokenizers.Encoding`` of each sequence (for ``tokens()``, ``word_ids()``...).
    """

    def __init__(self, data=None, encodings=None, tensor_type=None, n_sequences=None):
        super().__init__(data or {})
        self._encodings = encodings
        if n_sequences is None and encodings:
            n_sequences = encodings[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type)

    @property
    def data(self):
        return self

    @property
    def encodings(self):
        return self._encodings

    @property
    def n_sequences(self):
        return self._n_sequences

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        if isinstance(key, int) and self._encodings is not None:
            return self._encodings[key]
        if isinstance(key, slice):
            return {name: value[key] for name, value in self.items()}
        raise KeyError(f"{key!r}: index a BatchEncoding with a key name, a sequence index or a slice.")

    def __getattr__(self, name):
        try:
            return super().__getitem__(name)
        except KeyError:
            raise AttributeError(f"BatchEncoding has no attribute or key {name!r}.") from None

    def __getstate__(self):
        return {"_encodings": self._encodings, "_n_sequences": self._n_sequences}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def tokens(self, batch_index=0):
        """The token strings of sequence ``batch_index``."""
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index=0):
        return self._encoding(batch_index).word_ids

    def sequence_ids(self, batch_index=0):
        return self._encoding(batch_index).sequence_ids

    def _encoding(self, batch_index):
        if not self._encodings:
            raise ValueError("This BatchEncoding has no tokenizers.Encoding (it was not made by a tokenizer call).")
        return self._encodings[batch_index]

    def convert_to_tensors(self, tensor_type=None):
        """Converts every value to a tensor of ``tensor_type`` ("pt", "tf", "jax", "np"); None keeps lists."""
        if tensor_type is None:
            return self
        _check_return_tensors(tensor_type)
        from keras_tfm.backend.tensors import to_framework_tensor  # lazy: it imports Keras

        for key, value in self.items():
            if isinstance(value, (list, tuple)):
                value = _to_int_array(key, value)
            if isinstance(value, np.ndarray):
                self[key] = to_framework_tensor(value, tensor_type)
        return self

    def to(self, device):
        """Moves PyTorch tensors to ``device`` (other values are kept as they are)."""
        for key, value in self.items():
            if hasattr(value, "to") and callable(value.to):
                self[key] = value.to(device)
        return self


def _to_int_array(key, value):
    lengths = {len(row) for row in value if isinstance(row, (list, tuple))}
    if len(lengths) > 1:
        raise ValueError(
            f"Unable to create a tensor: the sequences of {key!r} have different lengths "
            f"({', '.join(str(n) for n in sorted(lengths))}). Pass padding=True (and truncation=True) "
            "to get tensors of equal length, or return_tensors=None for lists."
        )
    return np.asarray(value, dtype=np.int64)


def _check_return_tensors(return_tensors):
    if return_tensors is not None and return_tensors not in RETURN_TENSORS:
        raise ValueError(
            f"return_tensors={return_tensors!r} is not supported; use one of {RETURN_TENSORS} or None (lists)."
        )


class PreTrainedTokenizer:
    """A tokenizer backed by a ``tokenizers.Tokenizer``, with the API of transformers' fast tokenizers.

    Build one with ``AutoTokenizer.from_pretrained`` (or ``PreTrainedTokenizer.from_pretrained``);
    the constructor takes a ready ``tokenizers.Tokenizer`` and the tokenizer_config.json keys.

    Example:
        >>> tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
        >>> tokenizer("We are very happy.")["input_ids"]
        [101, 2057, 2024, 2200, 3407, 1012, 102]
        >>> batch = tokenizer(["a", "b c"], padding=True, return_tensors="np")
    """

    def __init__(self, tokenizer_object=None, *, tokenizer_file=None, name_or_path="", **config):
        if tokenizer_object is None and tokenizer_file is not None:
            tokenizer_object = Tokenizer.from_file(os.fspath(tokenizer_file))
        if not isinstance(tokenizer_object, Tokenizer):
            raise ValueError(
                "PreTrainedTokenizer needs tokenizer_object=<tokenizers.Tokenizer> or tokenizer_file=<path "
                f"of a tokenizer.json>, got {type(tokenizer_object).__name__}."
            )
        self._tokenizer = tokenizer_object
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # calls set truncation/padding on the shared Rust tokenizer
        self.tokenizer_class = builders.base_class_name(config.get("tokenizer_class"))
        self.name_or_path = str(name_or_path)
        self.init_kwargs = dict(config)
        self._warned_too_long = False

        family = builders.family_of(self.tokenizer_class)
        self._special_tokens = special_tokens_from_config(config, family)
        self._extra_special_tokens = extra_special_tokens_from_config(config)
        builders.register_special_tokens(
            self._tokenizer, tokens_to_register(config, family, self._extra_special_tokens)
        )
        if family is not None and self._tokenizer.post_processor is None:
            # transformers gives these classes their template even when tokenizer.json has none.
            self._tokenizer.post_processor = builders.post_processor(
                family, self._tokenizer, config, self._special_tokens
            )

        max_length = config.get("model_max_length", config.get("max_len"))
        self.model_max_length = VERY_LARGE_INTEGER if max_length is None else int(max_length)
        self.padding_side = _check_side("padding_side", config.get("padding_side", "right"))
        self.truncation_side = _check_side("truncation_side", config.get("truncation_side", "right"))
        names = config.get("model_input_names")
        self.model_input_names = list(names) if names else builders.model_input_names_of(self.tokenizer_class)
        self.clean_up_tokenization_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self.split_special_tokens = bool(config.get("split_special_tokens", False))

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the tokenizer of a local folder or hub id (see ``AutoTokenizer.from_pretrained``)."""
        path = os.fspath(pretrained_model_name_or_path)
        hub = pop_hub_kwargs(kwargs)

        def find(filename):
            return resolve_file(path, filename, required=False, **hub)

        try:
            config = _read_json(find(TOKENIZER_CONFIG_FILE)) or {}
        except ModelNotFoundError as e:
            raise ModelNotFoundError(
                f"Cannot load a tokenizer from {path!r}: {e} A tokenizer needs {TOKENIZER_FILE}, "
                "or vocab.txt (WordPiece), or vocab.json + merges.txt (byte-level BPE)."
            ) from None
        if "added_tokens_decoder" not in config:
            # Legacy folders keep special tokens in special_tokens_map.json, which then wins.
            for key, value in (_read_json(find(SPECIAL_TOKENS_MAP_FILE)) or {}).items():
                if key not in kwargs:
                    config[key] = value
        config.update(kwargs)
        config.pop("name_or_path", None)
        tokenizer_class = config.get("tokenizer_class") or _class_from_model_config(find("config.json"))
        tokenizer_file = find(TOKENIZER_FILE)
        family = builders.family_of(tokenizer_class)
        if tokenizer_file is None and family is None:
            family = builders.family_from_files(lambda name: find(name) is not None)
            tokenizer_class = builders.FAMILY_CLASS.get(family)
        config["tokenizer_class"] = tokenizer_class

        special = special_tokens_from_config(config, family)
        added = tokens_to_register(config, family, extra_special_tokens_from_config(config))
        if tokenizer_file is not None:
            backend = Tokenizer.from_file(tokenizer_file)
            if family is not None:
                builders.apply_family(backend, family, config, special, added)
        else:
            files = _vocab_files(path, find, family, tokenizer_class)
            logger.info("Building a %s tokenizer from %s (no %s).", family, ", ".join(files), TOKENIZER_FILE)
            backend = builders.build_tokenizer(family, files, config, special, added)
        return cls(backend, name_or_path=path, **config)

    # ------------------------------------------------------------------ special tokens

    @property
    def special_tokens_map(self):
        return {name: tok for name, tok in self._special_tokens.items() if tok is not None}

    @property
    def extra_special_tokens(self):
        return list(self._extra_special_tokens)

    additional_special_tokens = extra_special_tokens

    @property
    def all_special_tokens(self):
        tokens = list(self.special_tokens_map.values()) + self._extra_special_tokens
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self):
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def add_special_tokens(self, special_tokens_dict):
        """Sets named special tokens (``{"pad_token": "[PAD]"}``) and adds the new ones; returns how many."""
        tokens = []
        for key, value in dict(special_tokens_dict).items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                if not isinstance(value, (list, tuple)):
                    raise ValueError(f"{key} must be a list of tokens, got {type(value).__name__}.")
                self._extra_special_tokens = [str(t) for t in value]
                tokens.extend(value)
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"{key} must be a str or AddedToken, got {type(value).__name__}.")
                self._special_tokens[key] = str(value)
                tokens.append(value)
            else:
                raise ValueError(
                    f"{key!r} is not a special token name; use one of {SPECIAL_TOKENS_ATTRIBUTES} "
                    "or 'additional_special_tokens'."
                )
        return self.add_tokens(tokens, special_tokens=True)

    def add_tokens(self, new_tokens, special_tokens=False):
        """Adds tokens to the vocabulary (never split); returns how many were new."""
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        for token in new_tokens:
            if not isinstance(token, (str, AddedToken)):
                raise ValueError(f"Tokens to add must be str or AddedToken, got {type(token).__name__}.")
        if special_tokens:
            new_tokens = [AddedToken(t, special=True) if isinstance(t, str) else t for t in new_tokens]
            return self._tokenizer.add_special_tokens(new_tokens)
        return self._tokenizer.add_tokens(list(new_tokens))

    # ------------------------------------------------------------------ vocabulary

    @property
    def backend_tokenizer(self):
        return self._tokenizer

    @property
    def is_fast(self):
        return True

    @property
    def vocab_size(self):
        """Size of the base vocabulary, without added tokens."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self):
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def get_vocab(self):
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self):
        return self.get_vocab()

    @property
    def added_tokens_decoder(self):
        return self._tokenizer.get_added_tokens_decoder()

    def get_added_vocab(self):
        return {str(tok): i for i, tok in sorted(self.added_tokens_decoder.items())}

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(token) for token in tokens]

    def _token_to_id(self, token):
        index = self._tokenizer.token_to_id(token)
        if index is None:
            unk = self._special_tokens.get("unk_token")
            return None if unk is None else self._tokenizer.token_to_id(unk)
        return index

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        if isinstance(ids, (int, np.integer)):
            return self._tokenizer.id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(int(i)) for i in _to_python(ids) if int(i) not in skip]

    def convert_tokens_to_string(self, tokens):
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def num_special_tokens_to_add(self, pair=False):
        return self._tokenizer.num_special_tokens_to_add(pair)

    @property
    def max_len_single_sentence(self):
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self):
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 for each special token of an already formatted sequence, 0 otherwise."""
        if not already_has_special_tokens or token_ids_1 is not None:
            raise ValueError("get_special_tokens_mask needs already_has_special_tokens=True and one sequence.")
        special = set(self.all_special_ids)
        return [1 if int(i) in special else 0 for i in token_ids_0]

    # ------------------------------------------------------------------ encoding

    def __call__(
        self,
        text=None,
        text_pair=None,
        *,
        add_special_tokens=True,
        padding=False,
        truncation=None,
        max_length=None,
        stride=0,
        is_split_into_words=False,
        pad_to_multiple_of=None,
        padding_side=None,
        return_tensors=None,
        return_token_type_ids=None,
        return_attention_mask=None,
        return_overflowing_tokens=False,
        return_special_tokens_mask=False,
        return_offsets_mapping=False,
        return_length=False,
        split_special_tokens=None,
        verbose=True,
    ):
        """Tokenizes a text, a pair, or a batch of texts or pairs, for the model.

        Args:
            text: a str, or a list of str (a batch); with ``is_split_into_words``, a list of
                words or a batch of lists of words.
            text_pair: the second sequence(s), shaped like ``text``.
            padding: True / "longest" (to the longest of the batch), "max_length", or
                False / "do_not_pad".
            truncation: True / "longest_first", "only_first", "only_second", or False.
                Without ``max_length``, truncates to ``model_max_length``.
            return_tensors: "pt", "tf", "jax", "np", or None for Python lists (a single text
                then gives flat lists).

        Returns:
            A ``BatchEncoding`` with ``input_ids`` and, by ``model_input_names``,
            ``token_type_ids`` and ``attention_mask``.
        """
        if text is None:
            raise ValueError("Pass the text to tokenize: tokenizer(text) or tokenizer(text, text_pair).")
        _check_return_tensors(return_tensors)
        padding, truncation, max_length = self._padding_truncation(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        batched, inputs = _batch_inputs(text, text_pair, is_split_into_words)
        encodings = self._encode_batch(
            inputs,
            add_special_tokens=add_special_tokens,
            is_split_into_words=is_split_into_words,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=_check_side("padding_side", padding_side or self.padding_side),
            split_special_tokens=self.split_special_tokens if split_special_tokens is None else split_special_tokens,
        )
        data, flat_encodings = self._collect(
            encodings,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
        )
        if verbose and max_length is None:
            self._warn_if_too_long(data["input_ids"])
        if not batched and return_tensors is None and not return_overflowing_tokens:
            # A single text gives flat lists, like transformers.
            data = {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}
        return BatchEncoding(data, flat_encodings, tensor_type=return_tensors)

    def encode(
        self,
        text,
        text_pair=None,
        add_special_tokens=True,
        padding=False,
        truncation=None,
        max_length=None,
        stride=0,
        padding_side=None,
        return_tensors=None,
    ):
        """The ``input_ids`` of a text (or pair)."""
        return self(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            padding_side=padding_side,
            return_tensors=return_tensors,
        )["input_ids"]

    def tokenize(self, text, pair=None, add_special_tokens=False):
        """The token strings of a text (or pair), without special tokens unless asked."""
        return self(text, pair, add_special_tokens=add_special_tokens).encodings[0].tokens

    def _padding_truncation(self, padding, truncation, max_length, pad_to_multiple_of, verbose):
        """Resolves the strategies as transformers does; returns (padding, truncation, max_length)."""
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"  # max_length alone turns truncation on
        if padding is True and verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
            logger.warning("max_length is ignored when padding=True without truncation; use padding='max_length'.")
        padding = _padding_strategy(padding)
        truncation = _truncation_strategy(truncation)
        if max_length is None:
            no_limit = self.model_max_length > LARGE_INTEGER
            if padding == "max_length":
                padding, max_length = (None, None) if no_limit else (padding, self.model_max_length)
            if truncation is not None:
                truncation, max_length = (None, max_length) if no_limit else (truncation, self.model_max_length)
        if padding is not None and self.pad_token is None:
            raise ValueError(
                "Asking to pad but the tokenizer has no padding token: set one, e.g. "
                "tokenizer.pad_token = tokenizer.eos_token or tokenizer.add_special_tokens({'pad_token': '[PAD]'})."
            )
        if truncation and padding and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
            raise ValueError(
                f"Truncation and padding are both on, but max_length={max_length} is not a multiple of "
                f"pad_to_multiple_of={pad_to_multiple_of}."
            )
        return padding, truncation, max_length

    def _encode_batch(self, inputs, *, add_special_tokens, is_split_into_words, padding, truncation, max_length,
                      stride, pad_to_multiple_of, padding_side, split_special_tokens):
        with self._lock:
            tok = self._tokenizer
            try:
                if truncation is not None:
                    tok.enable_truncation(
                        max_length, stride=stride, strategy=truncation, direction=self.truncation_side
                    )
                if padding is not None:
                    tok.enable_padding(
                        direction=padding_side,
                        pad_id=self.pad_token_id,
                        pad_type_id=0,
                        pad_token=self.pad_token,
                        length=max_length if padding == "max_length" else None,
                        pad_to_multiple_of=pad_to_multiple_of,
                    )
                tok.encode_special_tokens = split_special_tokens
                return tok.encode_batch(
                    inputs, add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words
                )
            except BaseException as e:
                # The Rust library answers bad settings (a stride too long for max_length...) with a
                # bare Exception or a PanicException (a BaseException): make them ValueErrors.
                if type(e) is Exception or type(e).__name__ == "PanicException":
                    raise ValueError(f"Cannot tokenize with these settings: {e}") from None
                raise
            finally:
                tok.no_truncation()
                tok.no_padding()
                tok.encode_special_tokens = self.split_special_tokens

    def _collect(self, encodings, *, return_token_type_ids, return_attention_mask, return_overflowing_tokens,
                 return_special_tokens_mask, return_offsets_mapping, return_length):
        """Lists of ids, masks... per sequence (overflowing windows become extra rows)."""
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        fields = [("input_ids", lambda e: e.ids)]
        if return_token_type_ids:
            fields.append(("token_type_ids", lambda e: e.type_ids))
        if return_attention_mask:
            fields.append(("attention_mask", lambda e: e.attention_mask))
        if return_special_tokens_mask:
            fields.append(("special_tokens_mask", lambda e: e.special_tokens_mask))
        if return_offsets_mapping:
            fields.append(("offset_mapping", lambda e: e.offsets))
        if return_length:
            fields.append(("length", lambda e: len(e.ids)))
        data = {name: [] for name, _ in fields}
        flat, sample_of_row = [], []
        for sample, encoding in enumerate(encodings):
            rows = [encoding] + (encoding.overflowing if return_overflowing_tokens else [])
            for row in rows:
                for name, get in fields:
                    data[name].append(get(row))
                flat.append(row)
                sample_of_row.append(sample)
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sample_of_row
        return data, flat

    def _warn_if_too_long(self, rows):
        longest = max((len(r) for r in rows), default=0)
        if longest > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token indices sequence length is longer than the specified maximum sequence length for this "
                f"model ({longest} > {self.model_max_length}). Running this sequence through the model will "
                "result in indexing errors; pass truncation=True."
            )

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None):
        """Pads already tokenized inputs (a list of dicts, or a dict of lists) to the same length.

        ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``special_tokens_mask`` are
        padded; other keys (labels...) are kept as they are.
        """
        _check_return_tensors(return_tensors)
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise ValueError("pad() takes a dict with 'input_ids', or a list of such dicts.")
        data = {key: _to_python(value) for key, value in encoded_inputs.items()}
        single = not data["input_ids"] or not isinstance(data["input_ids"][0], list)
        if single:
            data = {key: [value] for key, value in data.items()}
        padding, _, max_length = self._padding_truncation(padding, False, max_length, None, False)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if return_attention_mask and "attention_mask" not in data:
            data["attention_mask"] = [[1] * len(ids) for ids in data["input_ids"]]
        if padding is not None:
            target = max(len(ids) for ids in data["input_ids"]) if padding == "longest" else max_length
            if pad_to_multiple_of and target % pad_to_multiple_of:
                target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of
            side = _check_side("padding_side", padding_side or self.padding_side)
            pad_values = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0,
                          "special_tokens_mask": 1}
            for key, value in pad_values.items():
                if key in data:
                    data[key] = [_pad_row(row, target, value, side) for row in data[key]]
        if single and return_tensors is None:
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    # ------------------------------------------------------------------ decoding

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """The text of one sequence of ids (a list, array or tensor); a batch gives a list of texts."""
        token_ids = _to_python(token_ids)
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], list):
            return [self._decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in token_ids]
        return self._decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """The texts of a batch of id sequences."""
        result = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    def _decode(self, token_ids, skip_special_tokens, clean_up_tokenization_spaces):
        text = self._tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        # As transformers: the clean-up is meant for WordPiece and would corrupt BPE text.
        if clean_up_tokenization_spaces and type(self._tokenizer.model).__name__ != "BPE":
            text = clean_up_tokenization(text)
        return text

    # ------------------------------------------------------------------ saving

    # ------------------------------------------------------------------ chat templates

    @property
    def chat_template(self):
        """The jinja chat template: tokenizer_config.json's ``chat_template``, or chat_template.jinja."""
        template = self.__dict__.get("_chat_template_override") or self.init_kwargs.get("chat_template")
        if template is None and self.name_or_path and os.path.isdir(self.name_or_path):
            path = os.path.join(self.name_or_path, "chat_template.jinja")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    template = f.read()
        return template

    @chat_template.setter
    def chat_template(self, value):
        self._chat_template_override = value
        self.init_kwargs["chat_template"] = value

    def apply_chat_template(self, conversation, tools=None, documents=None, chat_template=None,
                            add_generation_prompt=False, continue_final_message=False, tokenize=True, padding=False,
                            truncation=False, max_length=None, return_tensors=None, return_dict=False,
                            **kwargs):
        """Renders chat messages with the tokenizer's jinja chat template, as ``transformers`` does.

        ``conversation`` is a list of ``{"role", "content"}`` dicts (or a list of such lists).
        Returns the text (``tokenize=False``), the token ids, or with ``return_dict=True`` a
        ``BatchEncoding``.
        """
        from keras_tfm.processing.chat_template import render_chat

        template = chat_template if chat_template is not None else self.chat_template
        if isinstance(template, dict):
            template = template.get("default", next(iter(template.values())))
        if template is None:
            raise ValueError(
                "Cannot use apply_chat_template because this tokenizer does not have a chat template (no "
                "chat_template in tokenizer_config.json, no chat_template.jinja). Pass chat_template=... or set "
                "tokenizer.chat_template."
            )
        batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if batched else [conversation]
        special = {name: getattr(self, name, None) for name in ("bos_token", "eos_token", "unk_token", "pad_token")}
        texts = [render_chat(template, list(c), tools=tools, documents=documents,
                             add_generation_prompt=add_generation_prompt,
                             continue_final_message=continue_final_message, **special, **kwargs)
                 for c in conversations]
        if not tokenize:
            return texts if batched else texts[0]
        encoded = self(texts, add_special_tokens=False, padding=padding, truncation=truncation, max_length=max_length,
                       return_tensors=return_tensors)
        if return_dict:
            return encoded if batched or return_tensors else BatchEncoding({k: v[0] for k, v in encoded.items()})
        ids = encoded["input_ids"]
        return ids if batched or return_tensors else ids[0]

    def save_pretrained(self, save_directory, filename_prefix=None):
        """Writes tokenizer_config.json, special_tokens_map.json and tokenizer.json (atomically).

        The folder loads back here and in ``transformers.AutoTokenizer``. Returns the paths written.
        """
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise ValueError(f"save_pretrained needs a folder, but {save_directory!r} is a file.")
        os.makedirs(save_directory, exist_ok=True)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        files = {
            TOKENIZER_CONFIG_FILE: _dump_json(self._config_to_save()),
            SPECIAL_TOKENS_MAP_FILE: _dump_json(self._special_tokens_to_save()),
            TOKENIZER_FILE: self._tokenizer.to_str(pretty=True),
        }
        paths = []
        for name, text in files.items():
            path = os.path.join(save_directory, prefix + name)
            atomic_write_text(path, text)
            paths.append(path)
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

    # ------------------------------------------------------------------ misc

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, tokenizer_class={self.tokenizer_class!r}, "
            f"vocab_size={self.vocab_size}, model_max_length={self.model_max_length}, "
            f"padding_side={self.padding_side!r}, truncation_side={self.truncation_side!r}, "
            f"special_tokens={self.special_tokens_map})"
        )


def _special_token_property(name):
    def get(self):
        return self._special_tokens.get(name)

    def set(self, value):
        if value is not None and not isinstance(value, (str, AddedToken)):
            raise ValueError(f"{name} must be a str (or None), got {type(value).__name__}.")
        self._special_tokens[name] = None if value is None else str(value)

    return property(get, set, doc=f"The {name.replace('_', ' ')} (a str), or None.")


def _special_id_property(name):
    def get(self):
        token = self._special_tokens.get(name)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set(self, value):
        self._special_tokens[name] = None if value is None else self._tokenizer.id_to_token(int(value))

    return property(get, set, doc=f"The id of the {name.replace('_', ' ')}, or None.")


for _name in SPECIAL_TOKENS_ATTRIBUTES:
    setattr(PreTrainedTokenizer, _name, _special_token_property(_name))
    setattr(PreTrainedTokenizer, _name + "_id", _special_id_property(_name))

PreTrainedTokenizerFast = PreTrainedTokenizer


class AutoTokenizer:
    """Loads the tokenizer of a model folder or hub id, like ``transformers.AutoTokenizer``."""

    def __init__(self):
        raise OSError("AutoTokenizer is built with AutoTokenizer.from_pretrained(path_or_hub_id).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the tokenizer of a local folder or hub id.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id (resolved through the
                huggingface_hub cache; ``revision``, ``cache_dir``, ``local_files_only``,
                ``token`` and ``subfolder`` are passed on).
            **kwargs: tokenizer_config.json keys to override (``model_max_length``,
                ``padding_side``, ``do_lower_case``, special tokens...).
        """
        kwargs.pop("use_fast", None)  # there is only the fast (Rust) tokenizer
        return PreTrainedTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)


# ---------------------------------------------------------------------- helpers


def special_tokens_from_config(config, family):
    """Named special tokens (str) from tokenizer_config.json, over the family's defaults."""
    tokens = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
    tokens.update(builders.DEFAULT_SPECIAL_TOKENS.get(family, {}))
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        if name in config:
            value = config[name]
            tokens[name] = None if value is None else str(_added_token(value))
    return tokens


def extra_special_tokens_from_config(config):
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    if isinstance(extra, dict):  # model-specific named tokens ({"image_token": "<image>"})
        extra = list(extra.values())
    return [str(_added_token(t)) for t in extra]


def tokens_to_register(config, family, extra_tokens):
    """Tokens to add (in transformers' order): saved added tokens, named special tokens, extras."""
    tokens = []
    for _, value in sorted((config.get("added_tokens_decoder") or {}).items(), key=lambda kv: int(kv[0])):
        tokens.append(_added_token(value))
    special = special_tokens_from_config(config, family)
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        if special[name] is not None:
            value = config.get(name)
            # A saved AddedToken keeps its flags (lstrip...); a plain name becomes a special token.
            keep = isinstance(value, (dict, AddedToken)) and str(_added_token(value)) == special[name]
            tokens.append(_added_token(value) if keep else AddedToken(special[name], special=True))
    tokens.extend(AddedToken(t, special=True) for t in extra_tokens)
    return tokens


def _added_token(value):
    """A str, an AddedToken, or its JSON form ({"content": ..., "lstrip": ...}) -> AddedToken."""
    if isinstance(value, AddedToken):
        return value
    if isinstance(value, dict):
        fields = {k: value[k] for k in ("single_word", "lstrip", "rstrip", "normalized") if k in value}
        return AddedToken(value["content"], special=value.get("special", True), **fields)
    if isinstance(value, str):
        return AddedToken(value, special=True)
    raise ValueError(f"A special token must be a str or a dict with 'content', got {type(value).__name__}: {value!r}.")


def _class_from_model_config(config_path):
    """tokenizer_class from config.json: its own ``tokenizer_class`` or its ``model_type``."""
    config = _read_json(config_path) or {}
    return config.get("tokenizer_class") or builders.MODEL_TYPE_TO_TOKENIZER_CLASS.get(config.get("model_type"))


def _vocab_files(path, find, family, tokenizer_class):
    """Paths of the vocabulary files of ``family``; a clear error naming what is missing."""
    files = {name: find(name) for name in builders.FAMILY_FILES.get(family, ())}
    if family is None or None in files.values():
        missing = [name for name, found in files.items() if found is None]
        detail = f"; {tokenizer_class} needs {' + '.join(missing)}" if family is not None else ""
        raise ModelNotFoundError(
            f"{path!r} has no tokenizer files: looked for {TOKENIZER_FILE}, vocab.txt (WordPiece) and "
            f"vocab.json + merges.txt (byte-level BPE){detail}."
        )
    return files


def _batch_inputs(text, text_pair, is_split_into_words):
    """Checks the inputs; returns (batched, list of texts or (text, pair) tuples)."""
    batched = _check_text("text", text, is_split_into_words)
    if text_pair is not None:
        pair_batched = _check_text("text_pair", text_pair, is_split_into_words)
        if batched != pair_batched:
            raise ValueError("text and text_pair must both be single texts or both be batches (lists).")
        if batched and len(text) != len(text_pair):
            raise ValueError(f"text has {len(text)} items but text_pair has {len(text_pair)}: they must match.")
    if batched:
        return True, list(zip(text, text_pair)) if text_pair is not None else list(text)
    # As transformers: an empty text_pair counts as no pair.
    return False, [(text, text_pair)] if text_pair else [text]


def _check_text(name, value, is_split_into_words):
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


def _padding_strategy(padding):
    padding = getattr(padding, "value", padding)  # transformers' PaddingStrategy enum
    if padding is True:
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return None
    if padding in ("longest", "max_length"):
        return padding
    raise ValueError(f"padding={padding!r} is not valid; use True, False, or one of {PADDING_STRATEGIES}.")


def _truncation_strategy(truncation):
    truncation = getattr(truncation, "value", truncation)  # transformers' TruncationStrategy enum
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return None
    if truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise ValueError(f"truncation={truncation!r} is not valid; use True, False, or one of {TRUNCATION_STRATEGIES}.")


def _check_side(name, side):
    if side not in ("left", "right"):
        raise ValueError(f"{name}={side!r} is not valid; use 'left' or 'right'.")
    return side


def _pad_row(row, length, value, side):
    fill = [value] * (length - len(row))
    return row + fill if side == "right" else fill + row


def _to_python(ids):
    """Lists of ints from lists, numpy arrays, or PyTorch / TensorFlow / JAX tensors."""
    if isinstance(ids, (list, tuple)):
        return [_to_python(i) for i in ids]
    if isinstance(ids, (int, np.integer)):
        return int(ids)
    if hasattr(ids, "detach"):  # torch: leave the graph and the GPU
        ids = ids.detach().cpu()
    return np.asarray(ids).tolist()


def clean_up_tokenization(text):
    """Removes the spaces WordPiece decoding leaves before punctuation and contractions."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                          (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(before, after)
    return text


def _read_json(path):
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(value).__name__}.")
    return value


def _dump_json(value):
    def encode(obj):  # AddedToken passed as an option
        if isinstance(obj, AddedToken):
            return obj.__getstate__()
        raise TypeError(f"Cannot save {type(obj).__name__} in a tokenizer config: {obj!r:.80}")

    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=encode) + "\n"
