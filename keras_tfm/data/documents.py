"""Invoices made on demand: document question answering that needs no download and no OCR.

``invoices(n, seed=0)`` writes ``n`` small invoices, each a dict:

- ``words``: the document's words, read left to right, top to bottom ("Invoice", "number:", "4711", ...);
- ``boxes``: one (left, upper, right, lower) box per word, normalised to 0..1000 as LayoutLM reads them
  (what OCR would give; ``keras_tfm.processing.ocr.normalize_box``'s arithmetic);
- ``image``: the words drawn in black on white with Pillow's default font, where the boxes say;
- ``fields``: ``{"number", "date", "customer", "tax", "total"}``, each ``(first, last)`` word indices
  of its value.

A title ("INVOICE") comes first; each field is a line "Key: value" and the lines come in a random
order at random margins and gaps, so an answer is found by what a value follows, never by where it is.
The tax is a price like the total, so "What is the total?" has to be read, not guessed from the shape
of a word. ``invoice_questions(documents)`` asks the questions of ``QUESTIONS`` of each document:
rows ``{"question", "words", "boxes", "answer", "start", "end"}`` with ``words[start:end + 1]`` the
answer (word indices, as the document-question-answering pipeline gives ``start`` / ``end``).

``invoice_tokenizer(rows)`` trains a word-level ``LayoutLMTokenizer`` on the rows' questions and words:
one token per lower-cased word found in ``min_frequency`` invoices at least (the keys, the question words,
the names); the rarer ones are ``[UNK]``. Punctuation is split off as BERT splits it ("total:" is
"total", ":"), as a reloaded tokenizer does, so dates and prices become pieces: "2026-04-28" is "2026",
"-", "04", "-" and a day that may be ``[UNK]``; "130.66" is mostly "[UNK]", ".", "[UNK]"; the four-digit
invoice numbers are ``[UNK]``. Those values are found by where they stand, not by what they say.
"""

import numpy as np

from keras_tfm.processing.processing_layoutlm import MAX_COORDINATE

SIZE = (360, 240)  # width, height of a page, pixels
FONT_SIZE = 14
KEYS = {"number": "Invoice number:", "date": "Date:", "customer": "Customer:", "tax": "Tax:", "total": "Total:"}
QUESTIONS = {"number": "What is the invoice number?", "date": "What is the date?",
             "customer": "Who is the customer?", "tax": "How much is the tax?", "total": "What is the total?"}
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Lea", "Omar")
LAST_NAMES = ("Meyer", "Schmidt", "Novak", "Rossi", "Garcia", "Kowalski", "Dubois", "Jensen", "Silva", "Weber")


def invoices(n, seed=0):
    """``n`` invoices (dicts of ``words``, ``boxes``, ``image``, ``fields``), seeded by ``seed``."""
    from PIL import Image, ImageDraw, ImageFont

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"invoices: n must be a positive int, got {n!r}.")
    rng = np.random.RandomState(seed)
    font = ImageFont.load_default(size=FONT_SIZE)
    documents = []
    for _ in range(n):
        values = _values(rng)
        image = Image.new("RGB", SIZE, "white")
        draw = ImageDraw.Draw(image)
        words, boxes, fields = [], [], {}
        order = [list(KEYS)[i] for i in rng.permutation(len(KEYS))]
        lines = [("title", "INVOICE")] + [(key, f"{KEYS[key]} {values[key]}") for key in order]
        top = int(rng.randint(8, 20))
        for key, line in lines:
            left = int(rng.randint(10, 60))
            first = len(words)
            for word in line.split(" "):
                box = draw.textbbox((left, top), word, font=font)
                draw.text((left, top), word, fill="black", font=font)
                words.append(word)
                boxes.append(normalize(box))
                left = box[2] + int(draw.textlength(" ", font=font)) + 2
            if key != "title":
                fields[key] = (first + len(KEYS[key].split(" ")), len(words) - 1)
            top += FONT_SIZE + int(rng.randint(8, 20))
        documents.append({"words": words, "boxes": boxes, "image": image, "fields": fields})
    return documents


def invoice_questions(documents, keys=None):
    """Each question of ``QUESTIONS`` (or of ``keys`` only) about each document: rows of ``question``,
    ``words``, ``boxes``, ``answer`` (its words joined by spaces), ``start`` and ``end`` (word indices), ``key``."""
    keys = list(QUESTIONS) if keys is None else list(keys)
    unknown = [key for key in keys if key not in QUESTIONS]
    if unknown:
        raise ValueError(f"invoice_questions: no question about {unknown}; the fields are {list(QUESTIONS)}.")
    rows = []
    for document in documents:
        for key in keys:
            start, end = document["fields"][key]
            rows.append({"question": QUESTIONS[key], "words": document["words"], "boxes": document["boxes"],
                         "answer": " ".join(document["words"][start:end + 1]), "start": start, "end": end,
                         "key": key})
    return rows


def normalize(box, size=SIZE):
    """A pixel box (left, upper, right, lower) on a page of ``size`` (width, height) as integers in 0..1000."""
    width, height = size
    return [min(MAX_COORDINATE, int(MAX_COORDINATE * v / s)) for v, s in zip(box, (width, height, width, height))]


def _values(rng):
    """One invoice's values: a four-digit number, a date of 2026, a name, a tax below a total."""
    total = rng.randint(500, 100000) / 100
    return {"number": str(rng.randint(1000, 10000)),
            "date": f"2026-{rng.randint(1, 13):02d}-{rng.randint(1, 29):02d}",
            "customer": f"{FIRST_NAMES[rng.randint(len(FIRST_NAMES))]} {LAST_NAMES[rng.randint(len(LAST_NAMES))]}",
            "tax": f"{total * 0.19:.2f}", "total": f"{total:.2f}"}


def invoice_tokenizer(rows, min_frequency=20):
    """A ``LayoutLMTokenizer`` whose word-level vocabulary is trained on ``rows``' questions and words,
    with BERT's special tokens and template ("[CLS] question [SEP] words [SEP]")."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    from keras_tfm.processing.tokenization_layoutlm import LayoutLMTokenizer

    special = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
               "mask_token": "[MASK]"}
    words = Tokenizer(models.WordLevel(unk_token=special["unk_token"]))
    # BERT's normalizer and pre-tokenizer (punctuation apart): what LayoutLMTokenizer rebuilds on reload.
    words.normalizer = normalizers.BertNormalizer(lowercase=True)
    words.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # Each row's question, and each document once (its rows share its words): frequencies count invoices.
    texts = [row["question"] for row in rows]
    texts += [" ".join(words) for words in {id(row["words"]): row["words"] for row in rows}.values()]
    words.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=list(special.values()),
                                                               min_frequency=min_frequency))
    cls, sep = words.token_to_id(special["cls_token"]), words.token_to_id(special["sep_token"])
    words.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return LayoutLMTokenizer(words, model_max_length=512, **special)
