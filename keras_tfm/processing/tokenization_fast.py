"""The tokenizer: ``PreTrainedTokenizer`` (alias ``PreTrainedTokenizerFast``) on the ``tokenizers`` library.

Calling it gives the same ids, masks and offsets as ``transformers.AutoTokenizer`` on the
same files, as Python lists or as PyTorch, TensorFlow, JAX or NumPy tensors
(``return_tensors``), whatever the Keras backend. Loading and saving
(``tokenizer_files``), special tokens (``special_tokens``) and chat templates
(``chat_template``) are mixins beside it. This module does not import Keras.
"""

import logging
import os
import threading

import numpy as np
from tokenizers import Tokenizer

from keras_tfm.processing import tokenizer_builders as builders
from keras_tfm.processing.batch import BatchEncoding, check_return_tensors
from keras_tfm.processing.chat_template import ChatTemplateMixin
from keras_tfm.processing.padding_truncation import (
    VERY_LARGE_INTEGER,
    check_side,
    pad_row,
    resolve_padding_truncation,
    round_up,
)
from keras_tfm.processing.special_tokens import (
    SpecialTokensMixin,
    extra_special_tokens_from_config,
    special_tokens_from_config,
    tokens_to_register,
)
from keras_tfm.processing.text_inputs import batch_inputs, clean_up_tokenization, ids_to_python
from keras_tfm.processing.tokenizer_files import TokenizerFilesMixin

logger = logging.getLogger(__name__)


class PreTrainedTokenizer(TokenizerFilesMixin, SpecialTokensMixin, ChatTemplateMixin):
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
        self._extra_special_tokens = extra_special_tokens_from_config(config, family)
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
        self.padding_side = check_side("padding_side", config.get("padding_side", "right"))
        self.truncation_side = check_side("truncation_side", config.get("truncation_side", "right"))
        names = config.get("model_input_names")
        self.model_input_names = list(names) if names else builders.model_input_names_of(self.tokenizer_class)
        self.clean_up_tokenization_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        # transformers 5's switch to clean up BPE text all the same (transformers 4 always did).
        self.clean_up_tokenization_spaces_for_bpe = bool(
            config.get("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
        )
        self.split_special_tokens = bool(config.get("split_special_tokens", False))

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
        return [self._tokenizer.id_to_token(int(i)) for i in ids_to_python(ids) if int(i) not in skip]

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
        text_target=None,
        text_pair_target=None,
        *,
        add_special_tokens=True,
        padding=False,
        truncation=None,
        max_length=None,
        max_target_length=None,
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
            text_target: target text(s) of a sequence-to-sequence model, shaped like ``text``:
                tokenized with the same options and returned as ``labels`` (their ``input_ids``);
                given without ``text``, the call returns the targets' own encoding.
            text_pair_target: the second sequence(s) of the targets.
            padding: True / "longest" (to the longest of the batch), "max_length", or
                False / "do_not_pad".
            truncation: True / "longest_first", "only_first", "only_second", or False.
                Without ``max_length``, truncates to ``model_max_length``.
            max_target_length: ``max_length`` of the targets (``max_length`` when None).
            return_tensors: "pt", "tf", "jax", "np", or None for Python lists (a single text
                then gives flat lists).

        Returns:
            A ``BatchEncoding`` with ``input_ids`` and, by ``model_input_names``,
            ``token_type_ids`` and ``attention_mask`` (and ``labels`` for targets).
        """
        if text is None and text_target is None:
            raise ValueError(
                "Pass the text to tokenize: tokenizer(text), tokenizer(text, text_pair) or tokenizer(text_target=...)."
            )
        check_return_tensors(return_tensors)
        padding, truncation, max_length = self._padding_truncation(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        encode_options = dict(
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=check_side("padding_side", padding_side or self.padding_side),
            split_special_tokens=self.split_special_tokens if split_special_tokens is None else split_special_tokens,
        )
        return_options = dict(
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
        )

        def encode(texts, pairs, names, length):
            return self._encode_texts(texts, pairs, names, length, encode_options, return_options, return_tensors,
                                      verbose)

        encoding = None if text is None else encode(text, text_pair, ("text", "text_pair"), max_length)
        if text_target is None:
            return encoding
        target_length = max_length if max_target_length is None else max_target_length
        targets = encode(text_target, text_pair_target, ("text_target", "text_pair_target"), target_length)
        if encoding is None:
            return targets
        encoding["labels"] = targets["input_ids"]
        return encoding

    def _encode_texts(self, text, text_pair, names, max_length, encode_options, return_options, return_tensors,
                      verbose):
        """One ``BatchEncoding`` of texts (or pairs), with padding and truncation already resolved."""
        batched, inputs = batch_inputs(text, text_pair, encode_options["is_split_into_words"], names)
        encodings = self._encode_batch(inputs, max_length=max_length, **encode_options)
        data, flat_encodings = self._collect(encodings, **return_options)
        if verbose and max_length is None:
            self._warn_if_too_long(data["input_ids"])
        if not batched and return_tensors is None and not return_options["return_overflowing_tokens"]:
            # A single text gives flat lists, like transformers.
            data = {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}
        return BatchEncoding(data, flat_encodings, tensor_type=return_tensors)

    def encode(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None, max_length=None,
               stride=0, padding_side=None, return_tensors=None):
        """The ``input_ids`` of a text (or pair)."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                    max_length=max_length, stride=stride, padding_side=padding_side,
                    return_tensors=return_tensors)["input_ids"]

    def tokenize(self, text, pair=None, add_special_tokens=False):
        """The token strings of a text (or pair), without special tokens unless asked."""
        return self(text, pair, add_special_tokens=add_special_tokens).encodings[0].tokens

    def _padding_truncation(self, padding, truncation, max_length, pad_to_multiple_of, verbose):
        """Resolves the strategies for this tokenizer; returns (padding, truncation, max_length)."""
        return resolve_padding_truncation(
            padding, truncation, max_length, pad_to_multiple_of, model_max_length=self.model_max_length,
            has_pad_token=self.pad_token is not None, verbose=verbose,
        )

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
            return_attention_mask=None, return_tensors=None, verbose=True):
        """Pads already tokenized inputs (a list of dicts, or a dict of lists) to the same length.

        ``input_ids``, ``token_type_ids``, ``attention_mask`` and ``special_tokens_mask`` are
        padded; other keys (labels...) are kept as they are.
        """
        check_return_tensors(return_tensors)
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
            raise ValueError("pad() takes a dict with 'input_ids', or a list of such dicts.")
        data = {key: ids_to_python(value) for key, value in encoded_inputs.items()}
        single = not data["input_ids"] or not isinstance(data["input_ids"][0], list)
        if single:
            data = {key: [value] for key, value in data.items()}
        # verbose is taken for transformers' signature; padding alone has no warning to give.
        padding, _, max_length = self._padding_truncation(padding, False, max_length, None, False)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if return_attention_mask and "attention_mask" not in data:
            data["attention_mask"] = [[1] * len(ids) for ids in data["input_ids"]]
        if padding is not None:
            target = max(len(ids) for ids in data["input_ids"]) if padding == "longest" else max_length
            target = round_up(target, pad_to_multiple_of)
            side = check_side("padding_side", padding_side or self.padding_side)
            pad_values = {"input_ids": self.pad_token_id, "token_type_ids": 0, "attention_mask": 0,
                          "special_tokens_mask": 1}
            for key, value in pad_values.items():
                if key in data:
                    data[key] = [pad_row(row, target, value, side) for row in data[key]]
        if single and return_tensors is None:
            data = {key: value[0] for key, value in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    # ------------------------------------------------------------------ decoding

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """The text of one sequence of ids (a list, array or tensor); a batch gives a list of texts."""
        token_ids = ids_to_python(token_ids)
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], list):
            return [self._decode(ids, skip_special_tokens, clean_up_tokenization_spaces) for ids in token_ids]
        return self._decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """The texts of a batch of id sequences."""
        sequences = ids_to_python(sequences)
        if isinstance(sequences, list) and not sequences:
            return []  # an empty batch, not one empty sequence
        result = self.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    @staticmethod
    def clean_up_tokenization(out_string):
        """Removes the spaces WordPiece decoding leaves before punctuation and contractions (any model)."""
        return clean_up_tokenization(out_string)

    def _decode(self, token_ids, skip_special_tokens, clean_up_tokenization_spaces):
        text = self._tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        # As transformers 5: the clean-up is meant for WordPiece and would corrupt BPE text, unless forced.
        is_bpe = type(self._tokenizer.model).__name__ == "BPE"
        if clean_up_tokenization_spaces and (not is_bpe or self.clean_up_tokenization_spaces_for_bpe):
            text = clean_up_tokenization(text)
        return text

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


PreTrainedTokenizerFast = PreTrainedTokenizer
