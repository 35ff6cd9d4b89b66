"""Builds tests/fixtures/layoutlm/: two tiny LayoutLM tokenizers and what transformers 4.57's
document-question-answering pipeline builds with them (its ``preprocess``: the windows of a
question and a document's words, each token with its word's box), plus its ``apply_tesseract``
on a recorded ``pytesseract.image_to_data`` dict.

Run by hand, not by CI, in the transformers 4 venv of tests/make_fixtures.py (transformers 5
deleted the pipeline's LayoutLM code)::

    /tmp/fixvenv/bin/python tests/make_layoutlm_fixtures.py

What it writes, under tests/fixtures/layoutlm/:

- ``wordpiece/``: ``LayoutLMTokenizerFast`` over a 136-entry WordPiece vocabulary (lower case),
  as ``save_pretrained`` writes it.
- ``bpe/``: a byte-level BPE (RoBERTa's special tokens) loaded with ``add_prefix_space=True``,
  as ``impira/layoutlm-document-qa`` is used.
- ``spans.json``: per case, the tokenizer folder, the question, the word boxes, the pipeline's
  ``max_seq_len`` / ``doc_stride`` / ``padding``, and each window HF built: input_ids,
  token_type_ids, attention_mask, bbox, p_mask, word_ids.
- ``ocr.json``: a recorded ``image_to_data`` dict, the image size, and the (words, boxes)
  HF's ``apply_tesseract`` made of it (pytesseract replaced by the recording: no OCR runs).
"""

import json
import os
import shutil
import sys
import types

os.environ.setdefault("USE_TF", "0")

import torch  # noqa: E402
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from tokenizers import ByteLevelBPETokenizer  # noqa: E402
from transformers.pipelines import document_question_answering as dqa  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "layoutlm")

WORDS = ("the a of to in is and for invoice date total amount due number name address phone city state zip "
         "company customer order item price tax paid balance payment account bank street road main first last "
         "what who when where how much many page description quantity unit subtotal discount shipping").split()
PIECES = ["##s", "##ed", "##ing", "##er", "##ly", "##1", "##2", "##3", "##4", "##5", "##0", "##-", "##/", "##.", "##,",
          "##:", "##$", "##a", "##e", "##o", "##n", "##t", "##r"]
SINGLES = list("abcdefghijklmnopqrstuvwxyz0123456789$.,:/-#")
VOCAB = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *PIECES, *SINGLES]))

DOCUMENT = ("INVOICE Number: 2024-0153 Date: 01/02/2024 Customer Name: Acme Company Address: 12 Main Street "
            "Springfield City Item Description Quantity Unit Price Amount Paper 10 $3.50 $35.00 Ink 2 $12.00 "
            "$24.00 Shipping $5.00 Subtotal $64.00 Tax $4.16 Total Amount Due: $68.16 Payment Account Bank "
            "Balance paid").split()


def word_boxes(words, seed=0):
    """(word, box) pairs laid out in lines on a 1000 x 1000 page."""
    g = torch.Generator().manual_seed(seed)
    out, x, y = [], 20, 30
    for word in words:
        width = 12 * len(word) + int(torch.randint(0, 10, (1,), generator=g))
        if x + width > 980:
            x, y = 20, y + 40
        out.append((word, [x, y, x + width, y + 25]))
        x += width + 15
    return out


CASES = [
    # name, tokenizer folder, question, words, pipeline kwargs
    ("one_window", "wordpiece", "What is the total amount due?", DOCUMENT[:20], {}),
    ("windows", "wordpiece", "What is the invoice number?", DOCUMENT, {"max_seq_len": 32, "doc_stride": 8}),
    ("windows_default_stride", "wordpiece", "Who is the customer?", DOCUMENT, {"max_seq_len": 40}),
    ("padded", "wordpiece", "What date?", DOCUMENT[:12], {"max_seq_len": 48, "padding": "max_length"}),
    ("bpe_windows", "bpe", "What is the invoice number?", DOCUMENT[:30], {"max_seq_len": 32, "doc_stride": 8}),
]

# A recording of pytesseract.image_to_data(image, output_type="dict") on a 640 x 480 page: Tesseract
# reports the page, block, paragraph and line levels with empty text, and words at level 5.
OCR_DATA = {
    "level": [1, 2, 3, 4, 5, 5, 5, 4, 5, 5, 5],
    "page_num": [1] * 11,
    "block_num": [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    "par_num": [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    "line_num": [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2],
    "word_num": [0, 0, 0, 0, 1, 2, 3, 0, 1, 2, 3],
    "left": [0, 31, 31, 31, 31, 150, 228, 33, 33, 141, 260],
    "top": [0, 40, 40, 40, 41, 40, 44, 90, 92, 91, 90],
    "width": [640, 402, 402, 345, 104, 66, 148, 400, 95, 108, 173],
    "height": [480, 77, 77, 27, 26, 27, 23, 27, 25, 26, 27],
    "conf": [-1, -1, -1, -1, 96.1, 95.5, 91.0, -1, 93.7, 0.0, 88.2],
    "text": ["", "", "", "", "INVOICE", "No.", "2024-0153", "", "Total:", " ", "$68.16"],
}
OCR_IMAGE_SIZE = (640, 480)


def save_wordpiece(folder):
    os.makedirs(folder)
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    tokenizer = transformers.LayoutLMTokenizerFast(vocab_file=vocab, do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(folder)


def save_bpe(folder):
    os.makedirs(folder)
    corpus = [" ".join(DOCUMENT), *(" ".join(q.split()) for _, _, q, _, _ in CASES)] * 3
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(folder)
    transformers.RobertaTokenizerFast(
        vocab_file=os.path.join(folder, "vocab.json"), merges_file=os.path.join(folder, "merges.txt"),
        add_prefix_space=True, model_max_length=512).save_pretrained(folder)


def pipeline_for(folder):
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LayoutLMConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=24)
    model = transformers.LayoutLMForQuestionAnswering(config).eval()
    return transformers.pipeline("document-question-answering", model=model, tokenizer=tokenizer)


def record_spans():
    records, pipes = [], {}
    for name, folder, question, words, kwargs in CASES:
        pipe = pipes.get(folder) or pipes.setdefault(folder, pipeline_for(os.path.join(OUT, folder)))
        boxes = word_boxes(words)
        spans = []
        for span in pipe.preprocess({"question": question, "image": None, "word_boxes": boxes}, **kwargs):
            spans.append({
                "input_ids": span["input_ids"][0].tolist(),
                "token_type_ids": span["token_type_ids"][0].tolist(),
                "attention_mask": span["attention_mask"][0].tolist(),
                "bbox": span["bbox"][0].tolist(),
                "p_mask": [bool(p) for p in span["p_mask"]],
                "word_ids": span["word_ids"],
            })
        records.append({"name": name, "tokenizer": folder, "question": question, "word_boxes": boxes,
                        "kwargs": kwargs, "spans": spans})
        print(name, len(spans), "windows", flush=True)
    return records


def record_ocr():
    dqa.pytesseract = types.SimpleNamespace(image_to_data=lambda image, **kwargs: OCR_DATA)
    words, boxes = dqa.apply_tesseract(Image.new("RGB", OCR_IMAGE_SIZE), lang=None, tesseract_config="")
    return {"image_to_data": OCR_DATA, "image_size": list(OCR_IMAGE_SIZE), "words": words, "boxes": boxes}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    save_wordpiece(os.path.join(OUT, "wordpiece"))
    save_bpe(os.path.join(OUT, "bpe"))
    outputs = {"transformers": transformers.__version__, "cases": record_spans()}
    with open(os.path.join(OUT, "spans.json"), "w") as f:
        json.dump(outputs, f, indent=None, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "ocr.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, **record_ocr()}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
