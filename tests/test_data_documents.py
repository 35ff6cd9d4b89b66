"""keras_tfm.data.documents: invoices whose boxes hold their words on the drawn page, and questions whose
answers are spans of those words that the document-question-answering pipeline's windows can point at."""

import numpy as np
import pytest

from keras_tfm.data.documents import KEYS, QUESTIONS, SIZE, invoice_questions, invoice_tokenizer, invoices, normalize
from keras_tfm.processing.processing_layoutlm import tokenize_with_boxes


@pytest.fixture(scope="module")
def documents():
    return invoices(8, seed=0)


def test_same_seed_same_invoices(documents):
    again = invoices(8, seed=0)
    assert [d["words"] for d in again] == [d["words"] for d in documents]
    assert np.array_equal(np.asarray(again[3]["image"]), np.asarray(documents[3]["image"]))
    assert [d["words"] for d in invoices(8, seed=1)] != [d["words"] for d in documents]


def test_boxes_are_inside_the_page_and_hold_ink(documents):
    width, height = SIZE
    for document in documents:
        assert document["image"].size == SIZE and len(document["boxes"]) == len(document["words"])
        page = np.asarray(document["image"].convert("L"))
        for word, (x0, y0, x1, y1) in zip(document["words"], document["boxes"]):
            assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 1000, word
            # Back to pixels: the box of each word has dark pixels (its letters), the page around is white.
            crop = page[y0 * height // 1000:y1 * height // 1000 + 1, x0 * width // 1000:x1 * width // 1000 + 1]
            assert crop.min() < 100, f"no ink in the box of {word!r}"
        assert page[-10:].min() == 255  # nothing is drawn below the last line


def test_words_read_left_to_right_top_to_bottom(documents):
    for document in documents:
        boxes = document["boxes"]
        for before, after in zip(boxes, boxes[1:]):
            same_line = after[1] < before[3] and before[1] < after[3]  # they overlap vertically
            assert (same_line and after[0] > before[2]) or after[1] > before[3]


def test_every_field_once_in_a_random_order(documents):
    orders = set()
    for document in documents:
        assert document["words"][0] == "INVOICE" and set(document["fields"]) == set(KEYS)
        orders.add(tuple(sorted(document["fields"], key=lambda key: document["fields"][key][0])))
    assert len(orders) > 1


def test_answers_are_the_spans_after_their_keys(documents):
    rows = invoice_questions(documents)
    assert len(rows) == len(documents) * len(QUESTIONS)
    for row in rows:
        words, start, end = row["words"], row["start"], row["end"]
        assert 0 < start <= end < len(words)
        assert " ".join(words[start:end + 1]) == row["answer"]
        assert words[start - 1] == KEYS[row["key"]].split(" ")[-1]  # the value follows its key
        assert row["question"] == QUESTIONS[row["key"]]
    customers = [row["answer"] for row in rows if row["key"] == "customer"]
    assert all(len(name.split(" ")) == 2 for name in customers)  # a span of two words
    totals = {row["answer"] for row in rows if row["key"] == "total"}
    assert all(float(t) > 0 and len(t.split(".")[1]) == 2 for t in totals)


def test_tax_is_the_total_s_share(documents):
    for document in documents:
        words, fields = document["words"], document["fields"]
        total, tax = (float(words[fields[key][0]]) for key in ("total", "tax"))
        assert tax == pytest.approx(0.19 * total, abs=0.006)


def test_questions_of_some_keys_and_bad_keys(documents):
    rows = invoice_questions(documents[:2], keys=["total"])
    assert [row["key"] for row in rows] == ["total", "total"]
    with pytest.raises(ValueError, match="'iban'"):
        invoice_questions(documents, keys=["iban"])
    with pytest.raises(ValueError, match="positive int"):
        invoices(0)


def test_normalize():
    assert normalize((0, 0, 360, 240)) == [0, 0, 1000, 1000]
    assert normalize((36, 24, 180, 120)) == [100, 100, 500, 500]


def test_invoice_tokenizer_knows_keys_not_values(documents):
    rows = invoice_questions(documents)
    tokenizer = invoice_tokenizer(rows, min_frequency=len(documents))  # words of every invoice: keys, questions
    row = next(row for row in rows if row["key"] == "total")
    window = tokenize_with_boxes(tokenizer, row["question"], row["words"], row["boxes"])[0]
    tokens = tokenizer.convert_ids_to_tokens(list(window["input_ids"][0]))
    assert tokens[:7] == ["[CLS]", "what", "is", "the", "total", "?", "[SEP]"] and tokens[-1] == "[SEP]"
    answer = [i for i, word in enumerate(window["word_ids"]) if word == row["start"]]
    assert tokens[answer[0] - 2:answer[0]] == ["total", ":"]
    assert window["bbox"][0, answer[0]].tolist() == row["boxes"][row["start"]]


def test_invoice_tokenizer_reloads_the_same(documents, tmp_path):
    from keras_tfm import AutoTokenizer

    rows = invoice_questions(documents)
    tokenizer = invoice_tokenizer(rows, min_frequency=2)
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    row = rows[3]
    assert again(row["question"].split(), row["words"], is_split_into_words=True)["input_ids"] == \
        tokenizer(row["question"].split(), row["words"], is_split_into_words=True)["input_ids"]
