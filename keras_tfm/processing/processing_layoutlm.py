"""The tokenizer with boxes of LayoutLM (v1): a question and a document's words, each token with
the box of its word, cut into overlapping windows, as transformers 4's document-question-answering
pipeline builds them.

``tokenize_with_boxes`` works with any tokenizer a LayoutLM checkpoint ships (BERT's WordPiece,
or the byte-level BPE of ``impira/layoutlm-document-qa``, loaded with ``add_prefix_space``).
"""

import numpy as np

CLS_BOX = [0, 0, 0, 0]  # question tokens, [CLS] and padding
SEP_BOX = [1000, 1000, 1000, 1000]
MAX_COORDINATE = 1000


def check_word_boxes(words, boxes):
    """ValueError naming the culprit unless ``boxes`` holds one (left, upper, right, lower) box in
    0..1000 per word (right >= left, lower >= upper)."""
    if len(words) != len(boxes):
        raise ValueError(f"There are {len(words)} words but {len(boxes)} boxes: give one box per word.")
    for i, (word, box) in enumerate(zip(words, boxes)):
        if len(box) != 4:
            raise ValueError(f"The box of word {i} ({word!r}) is {box}: a box is (left, upper, right, lower).")
        if any(not 0 <= v <= MAX_COORDINATE for v in box):
            raise ValueError(f"The box of word {i} ({word!r}) is {list(box)}: boxes are normalised to 0..1000 "
                             "(keras_tfm.processing.ocr.normalize_box).")
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"The box of word {i} ({word!r}) is {list(box)}: it needs right >= left and "
                             "lower >= upper.")


def tokenize_with_boxes(tokenizer, question, words, boxes, max_seq_len=None, doc_stride=None, padding="do_not_pad"):
    """The windows (spans) a LayoutLM model reads for a question about a document.

    The question (split on whitespace) and the words are tokenized as a pair of pre-split
    sequences, truncating only the words into windows of ``max_seq_len`` tokens that overlap by
    ``doc_stride``. Each word token gets its word's box, [SEP] tokens (1000, 1000, 1000, 1000),
    the question, [CLS] and padding (0, 0, 0, 0): transformers 4.57's document-question-answering
    pipeline for LayoutLM v1.

    Args:
        tokenizer: the model's tokenizer (padding side "right").
        question: the question, a str.
        words: the document's words; ``boxes``: one (left, upper, right, lower) box per word,
            normalised to 0..1000.
        max_seq_len: tokens per window; the tokenizer's ``model_max_length`` when None.
        doc_stride: tokens two windows share; ``min(max_seq_len // 2, 256)`` when None.
        padding: the tokenizer's padding ("do_not_pad", "max_length"...).

    Returns:
        A list of windows, each a dict: ``input_ids``, ``token_type_ids``, ``attention_mask``
        (int64, (1, T)) and ``bbox`` ((1, T, 4)), the model's inputs; ``p_mask`` (T,) bool, True
        where no answer can be (question and special tokens, except [CLS]); ``word_ids``: the word
        of each token (None for the question and special tokens).
    """
    if not isinstance(question, str) or not question.split():
        raise ValueError(f"The question must be a non-empty str, got {question!r}.")
    words = list(words)
    boxes = [list(b) for b in boxes]
    check_word_boxes(words, boxes)
    if not words:
        raise ValueError("The document has no words: give word_boxes, or an image OCR finds words in.")
    if tokenizer.padding_side != "right":
        raise ValueError("Document question answering only supports tokenizers whose padding side is 'right', not "
                         f"{tokenizer.padding_side!r}.")
    if max_seq_len is None:
        max_seq_len = tokenizer.model_max_length
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 256)
    encoding = tokenizer(question.split(), words, is_split_into_words=True, padding=padding, max_length=max_seq_len,
                         stride=doc_stride, return_token_type_ids=True, return_attention_mask=True,
                         truncation="only_second", return_overflowing_tokens=True)
    spans = []
    for span in range(len(encoding["input_ids"])):
        input_ids, sequence_ids, word_ids = encoding["input_ids"][span], encoding.sequence_ids(span), \
            encoding.word_ids(span)
        p_mask = np.array([s != 1 for s in sequence_ids])
        if tokenizer.cls_token_id is not None:
            # The [CLS] token stays answerable: some models point there for "no answer".
            p_mask[np.asarray(input_ids) == tokenizer.cls_token_id] = False
        bbox = [boxes[w] if s == 1 else SEP_BOX if i == tokenizer.sep_token_id else CLS_BOX
                for i, s, w in zip(input_ids, sequence_ids, word_ids)]
        spans.append({
            "input_ids": np.asarray([input_ids], "int64"),
            "token_type_ids": np.asarray([encoding["token_type_ids"][span]], "int64"),
            "attention_mask": np.asarray([encoding["attention_mask"][span]], "int64"),
            "bbox": np.asarray([bbox], "int64").reshape(1, len(input_ids), 4),
            "p_mask": p_mask,
            "word_ids": list(word_ids),
        })
    return spans
