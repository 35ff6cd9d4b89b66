"""``Wav2Vec2CTCTokenizer``: the character vocabulary of a CTC speech model (``vocab.json``).

Encoding (for CTC labels) is one token per character, spaces becoming the word delimiter
(``|``), with tokens of several characters (``<pad>``, ``<s>``...) never split: a
``tokenizers`` WordLevel model does it, so padding, truncation and ``return_tensors`` are
the generic tokenizer's. Decoding is CTC's, in plain Python as transformers' class:
repeated tokens grouped, the pad token (the CTC blank) dropped, the delimiter made a space,
with character and word offsets (in logit frames) on request.
"""

import json
import logging
import os
from itertools import groupby

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

from keras_tfm.configuration_utils import write_json_file
from keras_tfm.modeling_outputs import ModelOutput
from keras_tfm.processing.json_config import check_save_directory
from keras_tfm.processing.text_inputs import clean_up_tokenization, ids_to_python
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer
from keras_tfm.processing.tokenizer_files import TOKENIZER_CONFIG_FILE, added_token_json, read_tokenizer_config
from keras_tfm.registry import register_processor
from keras_tfm.utils.io import atomic_write_text, saves_a_folder

logger = logging.getLogger(__name__)

VOCAB_FILE = "vocab.json"


class Wav2Vec2CTCTokenizerOutput(ModelOutput):
    """What ``decode`` gives with offsets: ``text``, ``char_offsets`` and ``word_offsets``.

    Offsets are lists of ``{"char" (or "word"), "start_offset", "end_offset"}`` counted in
    logit frames; a batch (``batch_decode``) holds one list per sequence in each field.
    """

    fields = ("text", "char_offsets", "word_offsets")


class _Uppercase:
    """The ``tokenizers`` normalizer for ``do_lower_case`` (the vocabulary is upper case): it has none."""

    def normalize(self, normalized):
        normalized.uppercase()


@register_processor("AutoTokenizer", model_types=("wav2vec2",))
class Wav2Vec2CTCTokenizer(PreTrainedTokenizer):
    """The CTC character tokenizer of Wav2Vec2 models, like ``transformers.Wav2Vec2CTCTokenizer``.

    Args:
        vocab_file: path of ``vocab.json`` (token -> id; with ``target_lang``, language -> vocabulary).
        vocab: the vocabulary as a dict, instead of ``vocab_file``.
        bos_token, eos_token, unk_token, pad_token: the special tokens; ``pad_token`` is the CTC blank.
        word_delimiter_token: the token that stands for a space (``"|"``).
        replace_word_delimiter_char: what the delimiter becomes when decoding (``" "``).
        do_lower_case: accept lower-case text (upper-cased before lookup) and lower-case decoded text.
        target_lang: the language of a nested multilingual vocabulary (MMS).
        **config: other tokenizer_config.json keys (``model_max_length``, ``padding_side``...).

    Example:
        >>> tokenizer = AutoTokenizer.from_pretrained("facebook/wav2vec2-base-960h")
        >>> tokenizer.decode([0, 11, 11, 5, 0, 15, 15, 0, 15, 8, 4])  # repeats grouped, blanks (0) dropped
        'HELLO'
        >>> tokenizer("HELLO WORLD")["input_ids"][:7]
        [11, 5, 15, 15, 8, 4, 18]
    """

    def __init__(self, vocab_file=None, *, vocab=None, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                 pad_token="<pad>", word_delimiter_token="|", replace_word_delimiter_char=" ", do_lower_case=False,
                 target_lang=None, name_or_path="", **config):
        if vocab is None:
            if vocab_file is None:
                raise ValueError("Wav2Vec2CTCTokenizer needs vocab_file=<path of vocab.json> or vocab=<dict>.")
            with open(vocab_file, encoding="utf-8") as f:
                vocab = json.load(f)
        if not isinstance(vocab, dict) or not vocab:
            raise ValueError(f"The vocabulary of Wav2Vec2CTCTokenizer must be a non-empty dict, got {vocab!r:.80}.")
        self.vocab_dict = vocab  # as read: nested by language for a multilingual model
        self.do_lower_case = bool(do_lower_case)
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self._word_delimiter_token = word_delimiter_token
        self.target_lang = target_lang
        self._unk_token = str(unk_token)  # what the WordLevel model gives unknown characters
        self._set_encoder(target_lang)
        config.update(bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, pad_token=pad_token,
                      tokenizer_class=config.get("tokenizer_class") or "Wav2Vec2CTCTokenizer")
        super().__init__(self._build_backend(), name_or_path=name_or_path, **config)
        self.init_kwargs.update(word_delimiter_token=word_delimiter_token, do_lower_case=self.do_lower_case,
                                replace_word_delimiter_char=replace_word_delimiter_char, target_lang=target_lang)

    # ------------------------------------------------------------------ vocabulary

    def _set_encoder(self, target_lang):
        if target_lang is None:
            encoder = self.vocab_dict
        elif target_lang in self.vocab_dict and isinstance(self.vocab_dict[target_lang], dict):
            encoder = self.vocab_dict[target_lang]
        else:
            raise ValueError(
                f"target_lang={target_lang!r} is not a language of this nested vocabulary; choose one of "
                f"{sorted(k for k, v in self.vocab_dict.items() if isinstance(v, dict))}."
            )
        bad = {k: v for k, v in encoder.items() if not isinstance(v, int)}
        if bad:
            raise ValueError(
                f"The vocabulary maps tokens to ids, but {next(iter(bad))!r} maps to {next(iter(bad.values()))!r:.60}"
                " (a nested multilingual vocabulary needs target_lang=...)."
            )
        self.encoder = dict(encoder)
        self.decoder = {index: token for token, index in self.encoder.items()}

    def _build_backend(self, added_tokens=None):
        """A WordLevel ``tokenizers.Tokenizer``: one token per character, multi-character tokens kept whole."""
        tokenizer = Tokenizer(WordLevel(self.encoder, unk_token=self._unk_token))
        steps = [normalizers.Replace(" ", str(self._word_delimiter_token))] if self._word_delimiter_token else []
        if self.do_lower_case:
            steps.insert(0, normalizers.Normalizer.custom(_Uppercase()))
        tokenizer.normalizer = normalizers.Sequence(steps) if steps else None
        # (?m) makes "." match a newline too (Oniguruma's syntax): every character is a token.
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
        if added_tokens is None:
            # As transformers: tokens of several characters are never split, and eat the spaces around them.
            added_tokens = [AddedToken(t, lstrip=True, rstrip=True, normalized=False)
                            for t in self.encoder if len(t) > 1]
        tokenizer.add_tokens(added_tokens)
        return tokenizer

    def set_target_lang(self, target_lang):
        """Switches a nested multilingual vocabulary (MMS) to ``target_lang``."""
        if self.vocab_dict is self.encoder or all(isinstance(v, int) for v in self.vocab_dict.values()):
            raise ValueError("This vocabulary is not a multilingual (nested) one: it has no target language to set.")
        self._set_encoder(target_lang)
        self.target_lang = target_lang
        self.init_kwargs["target_lang"] = target_lang
        self._tokenizer = self._build_backend()

    @property
    def word_delimiter_token(self):
        """The token that stands for a space between words (``"|"``)."""
        return None if self._word_delimiter_token is None else str(self._word_delimiter_token)

    @word_delimiter_token.setter
    def word_delimiter_token(self, value):
        self._word_delimiter_token = value
        self._tokenizer = self._build_backend(list(self._tokenizer.get_added_tokens_decoder().values()))

    @property
    def word_delimiter_token_id(self):
        token = self.word_delimiter_token
        return None if token is None else self.convert_tokens_to_ids(token)

    @property
    def special_tokens_map(self):
        """The named special tokens; transformers 5 counts the word delimiter among them."""
        tokens = super().special_tokens_map
        if self.word_delimiter_token is not None:
            tokens["word_delimiter_token"] = self.word_delimiter_token
        return tokens

    @property
    def all_special_tokens(self):
        tokens = list(super().special_tokens_map.values())
        tokens += [self.word_delimiter_token] if self.word_delimiter_token is not None else []
        return list(dict.fromkeys(tokens + self._extra_special_tokens))

    @property
    def vocab_size(self):
        return len(self.decoder)

    def get_vocab(self):
        vocab = dict(self.encoder)
        vocab.update(self.get_added_vocab())
        return vocab

    def add_tokens(self, new_tokens, special_tokens=False):
        """Adds tokens, matched as written (transformers' CTC tokenizer never strips nor normalizes them)."""
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        new_tokens = [AddedToken(t, lstrip=False, rstrip=False, normalized=False, special=special_tokens)
                      if isinstance(t, str) else t for t in new_tokens]
        return super().add_tokens(new_tokens, special_tokens)

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        """Tokens of ids; an id outside the vocabulary is a ValueError naming it."""
        if isinstance(ids, int) or (not isinstance(ids, (list, tuple)) and getattr(ids, "ndim", 1) == 0):
            return self._id_to_token(int(ids_to_python(ids)))
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._id_to_token(i) for i in ids_to_python(ids) if i not in skip]

    def _id_to_token(self, index):
        if index in self.decoder:  # the vocabulary first, as transformers (for nested vocabularies)
            return self.decoder[index]
        token = self._tokenizer.id_to_token(index) if index >= 0 else None
        if token is None:
            raise ValueError(
                f"Token id {index} is not in the vocabulary of this Wav2Vec2CTCTokenizer (ids 0 to {len(self) - 1}); "
                "labels padded with -100 must have it replaced by the pad token id before decoding."
            )
        return token

    # ------------------------------------------------------------------ decoding

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, output_char_offsets=False,
               output_word_offsets=False, group_tokens=True, spaces_between_special_tokens=False):
        """The text of CTC ids (one per logit frame): repeats grouped, blanks (pad) dropped, ``|`` a space.

        Args:
            token_ids: ids of one sequence (list, array or tensor), e.g. the argmax of CTC logits.
            skip_special_tokens: drop special tokens (not the word delimiter) before grouping.
            clean_up_tokenization_spaces: remove spaces before punctuation (the tokenizer's setting when None).
            output_char_offsets / output_word_offsets: also give the characters / words with their
                ``start_offset`` and ``end_offset`` in frames (multiply by the model's
                ``inputs_to_logits_ratio / sampling_rate`` for seconds).
            group_tokens: merge repeated tokens (CTC); False keeps every token.
            spaces_between_special_tokens: join the tokens with spaces.

        Returns:
            The text, or a ``Wav2Vec2CTCTokenizerOutput`` when offsets are asked for.
        """
        token_ids = ids_to_python(token_ids)
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], list):
            raise ValueError("decode takes the ids of one sequence; use batch_decode for a batch.")
        tokens = self.convert_ids_to_tokens(token_ids)
        if skip_special_tokens:
            special = set(self.all_special_tokens) - {self.word_delimiter_token}
            tokens = [t for t in tokens if t not in special]
        text, char_offsets, word_offsets = self._ctc_string(
            tokens, group_tokens, spaces_between_special_tokens, output_char_offsets or output_word_offsets
        )
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = clean_up_tokenization(text)
        if output_char_offsets or output_word_offsets:
            empty = not tokens  # transformers then gives both offset lists, empty
            return Wav2Vec2CTCTokenizerOutput(
                text=text,
                char_offsets=char_offsets if output_char_offsets or empty else None,
                word_offsets=word_offsets if output_word_offsets or empty else None,
            )
        return text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None,
                     output_char_offsets=False, output_word_offsets=False, **kwargs):
        """``decode`` of each sequence; with offsets, one ``Wav2Vec2CTCTokenizerOutput`` of lists."""
        decoded = [
            self.decode(seq, skip_special_tokens, clean_up_tokenization_spaces, output_char_offsets,
                        output_word_offsets, **kwargs)
            for seq in ids_to_python(sequences)
        ]
        if output_char_offsets or output_word_offsets:
            fields = ("text",) + (("char_offsets",) if output_char_offsets else ()) + (
                ("word_offsets",) if output_word_offsets else ())
            return Wav2Vec2CTCTokenizerOutput(**{k: [d[k] for d in decoded] for k in fields})
        return decoded

    def convert_tokens_to_string(self, tokens, group_tokens=True, spaces_between_special_tokens=False,
                                 output_char_offsets=False, output_word_offsets=False):
        """CTC tokens -> ``{"text", "char_offsets", "word_offsets"}``, as transformers' method."""
        text, chars, words = self._ctc_string(
            tokens, group_tokens, spaces_between_special_tokens, output_char_offsets or output_word_offsets
        )
        return {"text": text, "char_offsets": chars if output_char_offsets else None,
                "word_offsets": words if output_word_offsets else None}

    def _ctc_string(self, tokens, group_tokens, spaces_between_special_tokens, with_offsets):
        """(text, char offsets, word offsets) of CTC tokens; the offsets are None unless asked."""
        if not tokens:
            return "", [], []
        if group_tokens:
            chars, repetitions = zip(*((token, len(list(run))) for token, run in groupby(tokens)))
        else:
            chars, repetitions = tokens, [1] * len(tokens)
        blank, delimiter = self.pad_token, self.word_delimiter_token
        kept = [self.replace_word_delimiter_char if c == delimiter else c for c in chars if c != blank]
        char_offsets = word_offsets = None
        if with_offsets:
            char_offsets, end = [], 0
            for char, count in zip(chars, repetitions):
                if char != blank:
                    char_offsets.append({"char": char, "start_offset": end, "end_offset": end + count})
                end += count
            for offset, char in zip(char_offsets, kept):
                offset["char"] = char
            word_offsets = _word_offsets(char_offsets, self.replace_word_delimiter_char)
        text = (" " if spaces_between_special_tokens else "").join(kept).strip()
        if self.do_lower_case:
            text = text.lower()
        return text, char_offsets, word_offsets

    @staticmethod
    def _get_word_offsets(offsets, word_delimiter_char=" "):
        """Word offsets from character offsets (transformers' name: its ASR pipeline calls it)."""
        return _word_offsets(offsets, word_delimiter_char)

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads ``vocab.json`` and tokenizer_config.json of a folder or hub id (as transformers saves them)."""
        path = os.fspath(pretrained_model_name_or_path)
        config, find = read_tokenizer_config(path, kwargs, f"Wav2Vec2CTCTokenizer needs {VOCAB_FILE}.")
        vocab_file = find(VOCAB_FILE)
        if vocab_file is None:
            raise FileNotFoundError(
                f"{path!r} has no {VOCAB_FILE}: Wav2Vec2CTCTokenizer needs its character vocabulary."
            )
        for key in ("vocab_file", "tokenizer_file", "backend"):
            config.pop(key, None)
        return cls(vocab_file, name_or_path=path, **config)

    @saves_a_folder
    def save_pretrained(self, save_directory, filename_prefix=None):
        """Writes tokenizer_config.json and vocab.json (atomically), the files transformers 5 writes and reads."""
        save_directory = check_save_directory(save_directory)
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        config_path = os.path.join(save_directory, prefix + TOKENIZER_CONFIG_FILE)
        vocab_path = os.path.join(save_directory, prefix + VOCAB_FILE)
        config = self._config_to_save()
        config["added_tokens_decoder"] = {
            str(i): token.__getstate__() for i, token in sorted(self._tokenizer.get_added_tokens_decoder().items())
        }
        write_json_file(config_path, config, ensure_ascii=False, default=added_token_json)
        atomic_write_text(vocab_path, json.dumps(self.vocab_dict, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        logger.info("Tokenizer saved in %s", save_directory)
        return config_path, vocab_path

    def _options_from_backend(self):
        return {}  # everything is in init_kwargs (the backend has no options transformers reads back)

    def __getstate__(self):
        state = super().__getstate__()
        # A custom (Python) normalizer cannot be pickled: keep the added tokens and rebuild the rest.
        state["_tokenizer"] = [t.__getstate__() for _, t in sorted(self._tokenizer.get_added_tokens_decoder().items())]
        return state

    def __setstate__(self, state):
        added = state.pop("_tokenizer")
        super().__setstate__(state)
        self._tokenizer = self._build_backend([_added_token(t) for t in added])


def _added_token(state):
    state = json.loads(state) if isinstance(state, str) else dict(state)
    return AddedToken(state.pop("content"), **state)


def _word_offsets(char_offsets, delimiter_char):
    """Words (runs of characters between delimiters) with the frames of their first and last character."""
    words, word, start, end, last_space = [], "", 0, 0, True
    for offset in char_offsets:
        char = offset["char"]
        space = char == delimiter_char
        if space == last_space:
            end = offset["end_offset"]
            word += char
        elif space:  # a word ends
            words.append({"word": word, "start_offset": start, "end_offset": end})
        else:  # a word starts
            word, start, end = char, offset["start_offset"], offset["end_offset"]
        last_space = space
    if not last_space:
        words.append({"word": word, "start_offset": start, "end_offset": end})
    return words
