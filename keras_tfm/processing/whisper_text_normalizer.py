"""Whisper's basic (multilingual) text normalizer, as OpenAI's and transformers' ``BasicTextNormalizer``.

It lower-cases, drops words in brackets / parentheses, turns marks, symbols and punctuation
into spaces (and optionally drops diacritics), and squeezes whitespace: the form in which
word error rates of multilingual transcriptions are compared.
"""

import re
import unicodedata

# Non-ASCII letters that NFKD does not split into a letter and a diacritic.
ADDITIONAL_DIACRITICS = {
    "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "th", "ł": "l", "Ł": "L",
}


def remove_symbols_and_diacritics(text, keep=""):
    """Marks, symbols and punctuation -> spaces; diacritics (category Mn and the table above) dropped."""
    def replace(char):
        if char in keep:
            return char
        if char in ADDITIONAL_DIACRITICS:
            return ADDITIONAL_DIACRITICS[char]
        category = unicodedata.category(char)
        if category == "Mn":
            return ""
        return " " if category[0] in "MSP" else char

    return "".join(replace(c) for c in unicodedata.normalize("NFKD", text))


def remove_symbols(text):
    """Marks, symbols and punctuation -> spaces, diacritics kept (NFKC)."""
    return "".join(" " if unicodedata.category(c)[0] in "MSP" else c for c in unicodedata.normalize("NFKC", text))


def basic_normalize(text, remove_diacritics=False):
    """The basic Whisper normalization of ``text`` (see the module docstring)."""
    text = text.lower()
    text = re.sub(r"[<\[][^>\]]*[>\]]", "", text)  # words between brackets
    text = re.sub(r"\(([^)]+?)\)", "", text)  # words between parentheses
    text = (remove_symbols_and_diacritics if remove_diacritics else remove_symbols)(text).lower()
    return re.sub(r"\s+", " ", text)
