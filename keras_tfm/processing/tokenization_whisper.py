"""``WhisperTokenizer``: Whisper's byte-level BPE with its special, language, task and timestamp tokens.

The vocabulary and byte-level pipeline are the generic tokenizer's (``tokenizer.json``, or
``vocab.json`` + ``merges.txt`` + the legacy ``added_tokens.json``). On top, as
transformers 5's class: the prefix tokens (``<|startoftranscript|>``, language, task,
``<|notimestamps|>``) that encoding puts before the text and ``<|endoftext|>`` after it,
``get_decoder_prompt_ids`` for generation, and decoding that drops a previous-text prompt,
strips or renders timestamp tokens (``<|1.08|>``) and gives timed segments
(``output_offsets``). The long-audio chunk merging of the ASR pipeline lives in
``keras_tfm/pipelines``, over this class.
"""

import json
import logging
import os
import re

import numpy as np
from tokenizers import processors

from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.configuration_utils import pop_hub_kwargs, read_config_dict
from keras_tfm.processing.batch import BatchEncoding
from keras_tfm.processing.text_inputs import ids_to_python
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer
from keras_tfm.processing.whisper_text_normalizer import basic_normalize
from keras_tfm.registry import register_processor
from keras_tfm.utils.io import atomic_write_text, saves_a_folder

logger = logging.getLogger(__name__)

NORMALIZER_FILE = "normalizer.json"  # the English spelling table of Whisper's English normalizer

LANGUAGES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan", "tl": "tagalog",
    "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala", "ha": "hausa",
    "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}

# Language code by name, with a few aliases (as OpenAI's and transformers' tables).
TO_LANGUAGE_CODE = {
    **{language: code for code, language in LANGUAGES.items()},
    "burmese": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht", "letzeburgesch": "lb", "pushto": "ps",
    "panjabi": "pa", "moldavian": "ro", "moldovan": "ro", "sinhalese": "si", "castilian": "es", "mandarin": "zh",
}

TASK_IDS = ["translate", "transcribe"]

_TIMESTAMP = re.compile(r"<\|(\d+\.\d+)\|>")


def language_code(language):
    """The code of a Whisper language given by code (``"de"``) or name (``"german"``), any case.

    Raises:
        ValueError: an unknown language, naming it and listing the ones Whisper knows.
    """
    if not isinstance(language, str):
        raise ValueError(f"language must be a str (a code such as 'en' or a name such as 'english'), got "
                         f"{type(language).__name__}: {language!r:.60}.")
    name = language.lower()
    if name in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[name]
    if name in LANGUAGES:
        return name
    raise ValueError(
        f"Unsupported language: {language!r}. Whisper knows the codes {sorted(LANGUAGES)} and the names "
        f"{sorted(TO_LANGUAGE_CODE)}."
    )


def check_task(task):
    """``task`` itself when it is "transcribe" or "translate" (or None); else a ValueError naming it."""
    if task is not None and task not in TASK_IDS:
        raise ValueError(f"Unsupported task: {task!r}. Task should be one of {TASK_IDS}.")
    return task


@register_processor("AutoTokenizer", model_types=("whisper",))
class WhisperTokenizer(PreTrainedTokenizer):
    """Whisper's tokenizer, like ``transformers.WhisperTokenizer`` (alias ``WhisperTokenizerFast``).

    Build one with ``AutoTokenizer.from_pretrained``; the constructor takes a ready
    ``tokenizers.Tokenizer`` (or ``tokenizer_file=``) and the tokenizer_config.json keys.

    Args:
        language: language of the text (code or name): its token follows ``<|startoftranscript|>``.
        task: "transcribe" or "translate": its token follows the language.
        predict_timestamps: when False, ``<|notimestamps|>`` ends the prefix.
        english_spelling_normalizer: the table of ``normalizer.json`` (kept and saved again).

    Example:
        >>> tokenizer = AutoTokenizer.from_pretrained("openai/whisper-tiny")
        >>> tokenizer.set_prefix_tokens(language="french", task="transcribe")
        >>> tokenizer.decode(tokenizer("Bonjour")["input_ids"], skip_special_tokens=True)
        'Bonjour'
    """

    def __init__(self, tokenizer_object=None, *, language=None, task=None, predict_timestamps=False,
                 english_spelling_normalizer=None, name_or_path="", **config):
        config["tokenizer_class"] = config.get("tokenizer_class") or "WhisperTokenizer"
        config.pop("normalizer_file", None)
        super().__init__(tokenizer_object, name_or_path=name_or_path, **config)
        self.english_spelling_normalizer = english_spelling_normalizer
        self.language = None
        self.task = None
        self.predict_timestamps = False
        self.set_prefix_tokens(language, task, bool(predict_timestamps))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the tokenizer of a folder or hub id (see ``AutoTokenizer``), with its normalizer.json."""
        tokenizer = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        path = os.fspath(pretrained_model_name_or_path)
        normalizer = resolve_file(path, NORMALIZER_FILE, required=False, **pop_hub_kwargs(dict(kwargs)))
        if normalizer is not None:
            tokenizer.english_spelling_normalizer = read_config_dict(normalizer)
        return tokenizer

    # ------------------------------------------------------------------ prefix tokens

    def set_prefix_tokens(self, language=None, task=None, predict_timestamps=None):
        """Sets the language, task and timestamp mode of the prefix that encoding adds (None keeps each).

        Raises:
            ValueError: an unknown language or task (checked before anything changes).
        """
        language = self.language if language is None else language
        task = self.task if task is None else task
        if language is not None:
            language_code(language)
        check_task(task)
        self.language = None if language is None else language.lower()
        self.task = task
        if predict_timestamps is not None:
            self.predict_timestamps = bool(predict_timestamps)
        prefix_ids = self.prefix_tokens
        prefixes = [self._tokenizer.id_to_token(i) for i in prefix_ids]
        eos, eos_id = self.eos_token, self.eos_token_id
        template = " ".join(f"{token}:0" for token in prefixes)
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{template} $A:0 {eos}:0",
            pair=f"{template} $A:0 $B:1 {eos}:1",
            special_tokens=[(eos, eos_id), *zip(prefixes, prefix_ids)],
        )

    @property
    def prefix_tokens(self):
        """``<|startoftranscript|>`` [language] [task] [``<|notimestamps|>``] as ids."""
        ids = [self._required_id("<|startoftranscript|>")]
        if self.language is not None:
            ids.append(self._required_id(f"<|{language_code(self.language)}|>"))
        if self.task is not None:
            ids.append(self._required_id(f"<|{check_task(self.task)}|>"))
        if not self.predict_timestamps:
            ids.append(self._required_id("<|notimestamps|>"))
        return ids

    def _required_id(self, token):
        index = self._tokenizer.token_to_id(token)
        if index is None:
            raise ValueError(
                f"This Whisper tokenizer has no {token} token (its vocabulary lacks Whisper's special tokens)."
            )
        return index

    def get_decoder_prompt_ids(self, task=None, language=None, no_timestamps=True):
        """The forced ``(position, token id)`` pairs after ``<|startoftranscript|>``; sets the prefix too."""
        self.set_prefix_tokens(task=task, language=language, predict_timestamps=not no_timestamps)
        return [(rank + 1, token) for rank, token in enumerate(self.prefix_tokens[1:])]

    def get_prompt_ids(self, text, return_tensors="np"):
        """Ids of a previous-text prompt (``<|startofprev|>`` + text) for Whisper's ``generate(prompt_ids=...)``."""
        encoding = self("<|startofprev|>", " " + text.strip(), add_special_tokens=False)
        ids = encoding["input_ids"]
        first_special = min(self.all_special_ids)
        special = next((i for i in ids[1:] if i >= first_special), None)
        if special is not None:
            raise ValueError(f"The prompt text holds a special token, which it may not: "
                             f"{self.convert_ids_to_tokens(special)}.")
        return BatchEncoding({"input_ids": ids}, tensor_type=return_tensors)["input_ids"]

    # ------------------------------------------------------------------ timestamps

    @property
    def timestamp_begin(self):
        """Id of ``<|0.00|>``: timestamp tokens follow ``<|notimestamps|>``."""
        return self._required_id("<|notimestamps|>") + 1

    def timestamp_ids(self, time_precision=0.02):
        """Ids of the timestamp tokens ``<|0.00|>`` ... ``<|30.00|>`` at ``time_precision``."""
        return self.convert_tokens_to_ids([f"<|{i * time_precision:.2f}|>" for i in range(1500 + 1)])

    def _decode_with_timestamps(self, token_ids, skip_special_tokens=False, time_precision=0.02, segment_size=1500):
        """Text with the timestamps written in (``"<|0.00|> Hello<|1.08|>"``), times running over segments."""
        begin = self.timestamp_begin
        outputs = [[]]
        current_max = previous_segments = penultimate = 0.0
        for i, token in enumerate(token_ids):
            if token < begin:
                outputs[-1].append(token)
                continue
            timestamp = float((token - begin) * time_precision)
            if timestamp < current_max:  # a new 30-second segment started
                single_ending = i >= 2 and not (token_ids[i - 1] >= begin and token_ids[i - 2] >= begin)
                if single_ending:
                    previous_segments += time_precision * segment_size
                else:
                    current_max = penultimate
                    previous_segments += penultimate
                    outputs = outputs[:-2]
            penultimate, current_max = current_max, timestamp
            outputs.append(f"<|{(timestamp + previous_segments):.2f}|>")
            outputs.append([])
        return "".join(
            part if isinstance(part, str) else super(WhisperTokenizer, self).decode(part, skip_special_tokens)
            if part else "" for part in outputs
        )

    def _compute_offsets(self, token_ids, time_precision=0.02, segment_size=1500):
        """Segments ``{"text", "timestamp": (start, end)}`` between pairs of timestamp tokens, in seconds."""
        token_ids = np.asarray(ids_to_python(token_ids))
        if token_ids.ndim > 1 and token_ids.shape[0] > 1:
            raise ValueError("output_offsets takes one sequence at a time.")
        token_ids = token_ids.reshape(-1)
        begin = self.timestamp_begin
        is_timestamp = token_ids >= begin
        consecutive = np.where(is_timestamp[:-1] & is_timestamp[1:])[0] + 1
        if consecutive.shape[0] == 0 and is_timestamp.sum() <= 1:
            return []  # no timestamps, or a single one
        last_timestamp = np.where(is_timestamp)[0][-1] + 1
        if last_timestamp not in consecutive:
            consecutive = np.append(consecutive, last_timestamp)
        offsets = []
        last_slice = np.where(is_timestamp)[0][0]
        current_max = previous_segments = 0
        for current_slice in consecutive:
            sliced = token_ids[last_slice:current_slice]
            if len(sliced) > 1:
                start, end = int(sliced[0]) - begin, int(sliced[-1]) - begin
                if start < current_max:  # a new segment started
                    single_ending = last_slice >= 2 and not (
                        token_ids[last_slice - 2] >= begin and token_ids[last_slice - 1] >= begin)
                    previous_segments += segment_size if single_ending else current_max
                current_max = end
                text = _TIMESTAMP.sub("", super().decode(sliced.tolist()))
                offsets.append({
                    "text": text,
                    "timestamp": (start * time_precision + previous_segments * time_precision,
                                  end * time_precision + previous_segments * time_precision),
                })
            last_slice = current_slice
        return offsets

    # ------------------------------------------------------------------ decoding

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, output_offsets=False,
               time_precision=0.02, decode_with_timestamps=False, normalize=False, basic_normalize=False,
               remove_diacritics=False):
        """The text of ids, as transformers' Whisper tokenizer decodes them.

        Args:
            token_ids: one sequence (list, array, tensor); a batch gives a list of results.
            skip_special_tokens: drop special tokens, and a ``<|startofprev|>`` prompt before
                ``<|startoftranscript|>``. Timestamp tokens are always removed from the text
                unless ``decode_with_timestamps``.
            output_offsets: also give ``offsets``, the timed segments (``{"text", "offsets"}``).
            time_precision: seconds per timestamp step (0.02).
            decode_with_timestamps: write the timestamps in the text (``<|1.08|>``).
            basic_normalize: apply Whisper's basic text normalizer (``remove_diacritics`` too).
            normalize: Whisper's English normalizer, which keras_tfm does not have (ValueError).
        """
        token_ids = ids_to_python(token_ids)
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        if token_ids and isinstance(token_ids[0], list):
            return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, output_offsets,
                                time_precision, decode_with_timestamps, normalize, basic_normalize, remove_diacritics)
                    for ids in token_ids]
        if normalize:
            raise ValueError("normalize=True asks for Whisper's English text normalizer, which keras_tfm does not "
                             "have; use basic_normalize=True (Whisper's multilingual normalizer).")
        self._check_ids(token_ids)
        if skip_special_tokens:
            filtered = self._strip_prompt(token_ids, self._tokenizer.token_to_id("<|startofprev|>"),
                                          self._tokenizer.token_to_id("<|startoftranscript|>"))
        else:
            filtered = token_ids
        if decode_with_timestamps:
            text = self._decode_with_timestamps(filtered, skip_special_tokens, time_precision)
        else:
            text = super().decode(filtered, skip_special_tokens, clean_up_tokenization_spaces)
            if basic_normalize:
                text = self.basic_normalize(text, remove_diacritics=remove_diacritics)
            text = _TIMESTAMP.sub("", text)
        if output_offsets:
            return {"text": text, "offsets": self._compute_offsets(token_ids, time_precision)}
        return text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        """``decode`` of each sequence of a batch (the same options)."""
        return [self.decode(ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs)
                for ids in ids_to_python(sequences)]

    def _check_ids(self, token_ids):
        size = len(self)
        bad = next((i for i in token_ids if not 0 <= i < size), None)
        if bad is not None:
            raise ValueError(f"Token id {bad} is not in this Whisper tokenizer's vocabulary (ids 0 to {size - 1}); "
                             "labels padded with -100 must have it replaced (by the eos / pad id) before decoding.")

    def _strip_prompt(self, token_ids, prompt_token_id, decoder_start_token_id):
        """Drops a prompt (ids from ``prompt_token_id`` up to ``decoder_start_token_id``; all if it never comes).

        transformers' signature: its ASR chunk merging calls it.
        """
        token_ids = ids_to_python(token_ids)
        if not token_ids or token_ids[0] != prompt_token_id:
            return token_ids
        return token_ids[token_ids.index(decoder_start_token_id):] if decoder_start_token_id in token_ids else []

    @staticmethod
    def basic_normalize(text, remove_diacritics=False):
        """Whisper's basic (multilingual) text normalization of ``text``."""
        return basic_normalize(text, remove_diacritics=remove_diacritics)

    # ------------------------------------------------------------------ saving

    @saves_a_folder
    def save_pretrained(self, save_directory, filename_prefix=None):
        """The generic tokenizer files, plus normalizer.json when the tokenizer has its table."""
        paths = super().save_pretrained(save_directory, filename_prefix)
        if self.english_spelling_normalizer is not None:
            prefix = f"{filename_prefix}-" if filename_prefix else ""
            path = os.path.join(os.fspath(save_directory), prefix + NORMALIZER_FILE)
            atomic_write_text(path, json.dumps(self.english_spelling_normalizer, indent=2, sort_keys=True,
                                               ensure_ascii=False) + "\n")
            paths = (*paths, path)
        return paths

    def _config_to_save(self):
        config = super()._config_to_save()
        config.update(language=self.language, task=self.task, predict_timestamps=self.predict_timestamps)
        return config


WhisperTokenizerFast = WhisperTokenizer
