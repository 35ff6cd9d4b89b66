"""``document-question-answering``: the words of a document image that answer a question, with LayoutLM.

Hugging Face ``transformers`` 5 deleted this pipeline; this keeps 4.57's behaviour for LayoutLM
(v1): a document is its words and their boxes (``word_boxes``: ``[(word, [x0, y0, x1, y1]),
...]`` in 0..1000, or found by OCR in the image with ``pytesseract``); the question's words and
the document's words are tokenized as a pair, cut into windows of ``max_seq_len`` tokens that
overlap by ``doc_stride``, each token given its word's box ([CLS] and the question [0, 0, 0, 0],
[SEP] [1000, 1000, 1000, 1000]); every window is scored as extractive question answering does
(``question_answering.select_starts_ends``), and the best spans of words win. ``start`` /
``end`` are word indices into ``word_boxes``; the result is always a list (``top_k`` answers).
"""

import numpy as np

from keras_tfm.pipelines.base import check_text
from keras_tfm.pipelines.question_answering import select_starts_ends, span_parameters
from keras_tfm.pipelines.vision_base import ImagePipeline
from keras_tfm.processing.ocr import apply_tesseract
from keras_tfm.processing.processing_layoutlm import check_word_boxes, tokenize_with_boxes


class DocumentQuestionAnsweringPipeline(ImagePipeline):
    """Answers questions about documents (``pipeline("document-question-answering")``; default model
    impira/layoutlm-document-qa).

    Example:
        >>> document_qa = pipeline("document-question-answering", model="impira/layoutlm-document-qa")
        >>> document_qa(image="invoice.png", question="What is the invoice number?")
        [{'score': 0.425, 'answer': 'us-001', 'start': 16, 'end': 16}]

    Inputs: ``image=`` and ``question=`` (and ``word_boxes=``), a dict ``{"image", "question",
    "word_boxes"}`` (the image may be None when word boxes are given), or a list, generator or
    dataset of such dicts. Without word boxes the image is read by Tesseract OCR
    (``keras_tfm.processing.ocr.apply_tesseract``: needs ``pytesseract`` and the tesseract binary).

    Call arguments: ``top_k`` (1), ``max_answer_len`` (15 tokens), ``handle_impossible_answer``
    (False), ``max_seq_len`` (the tokenizer's ``model_max_length``), ``doc_stride``
    (``min(max_seq_len // 2, 256)``), ``max_question_len`` (accepted and unused, as by 4.x's
    question answering), ``padding``, ``lang`` / ``tesseract_config`` (OCR), ``timeout`` (to
    fetch a URL).
    """

    chunked = True
    output_keys = ("start_logits", "end_logits")
    token_output_keys = ("start_logits", "end_logits")
    _load_tokenizer = True
    _load_image_processor = None  # LayoutLM (v1) reads no pixels: the image is only OCR's input

    def __init__(self, model, *args, **kwargs):
        super().__init__(model, *args, **kwargs)
        model_type = getattr(model.config, "model_type", None)
        if model_type != "layoutlm":
            raise ValueError(f"keras_tfm's document-question-answering pipeline runs LayoutLM (v1) question "
                             f"answering models; got {type(model).__name__} (model_type {model_type!r}).")

    def _sanitize_parameters(self, padding=None, doc_stride=None, max_question_len=None, lang=None,
                             tesseract_config=None, max_answer_len=None, max_seq_len=None, top_k=None,
                             handle_impossible_answer=None, timeout=None):
        preprocess = {key: value for key, value in (
            ("padding", padding), ("doc_stride", doc_stride), ("max_seq_len", max_seq_len), ("lang", lang),
            ("tesseract_config", tesseract_config), ("timeout", timeout)) if value is not None}
        if doc_stride is not None and max_seq_len is not None and doc_stride >= max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) must be smaller than max_seq_len ({max_seq_len}).")
        return preprocess, {}, span_parameters(top_k, max_answer_len, handle_impossible_answer)

    def __call__(self, image=None, question=None, word_boxes=None, **kwargs):
        """Answers a question about a document (-> a list of answers), or several (-> one list each)."""
        if isinstance(question, str):
            inputs = {"question": question, "image": image}
            if word_boxes is not None:
                inputs["word_boxes"] = word_boxes
        elif question is not None:
            raise ValueError(f"question must be a str, got {type(question).__name__}: {question!r:.80}.")
        elif image is None:
            raise ValueError(f"The {self.task} pipeline needs a question and a document: pass image= and question= "
                             "(and word_boxes=), or dicts {'image', 'question', 'word_boxes'}.")
        else:
            inputs = image  # dicts, a list, a generator or a dataset of them
        return super().__call__(inputs, **kwargs)

    # ---- preprocess ---------------------------------------------------------------
    def preprocess(self, example, padding="do_not_pad", doc_stride=None, max_seq_len=None, lang=None,
                   tesseract_config="", timeout=None):
        """One feature per window of the document's words."""
        question, words, boxes = self._document(example, lang, tesseract_config, timeout)
        windows = tokenize_with_boxes(self.tokenizer, question, words, boxes, max_seq_len=max_seq_len,
                                      doc_stride=doc_stride, padding=padding)
        features = []
        for window in windows:
            feature = {name: window[name][0] for name in ("input_ids", "attention_mask", "token_type_ids", "bbox")}
            feature.update(p_mask=window["p_mask"].astype("int64"), word_ids=window["word_ids"], words=words)
            features.append(feature)
        return features

    def _document(self, example, lang, tesseract_config, timeout):
        """(question, words, boxes) of one input; the words from ``word_boxes`` or from OCR of the image."""
        if not isinstance(example, dict):
            raise ValueError(f"The {self.task} pipeline takes dicts {{'image', 'question', 'word_boxes'}} (or "
                             f"image= and question=); got {type(example).__name__}: {example!r:.80}.")
        if "question" not in example:
            raise ValueError(f"The {self.task} pipeline needs a question for each document: the input has no "
                             f"'question' (its keys: {sorted(example)}).")
        question = check_text(self.task, example["question"], "a str as question")
        image = example.get("image")
        if image is not None:
            image = self.read_image(image, timeout)
        if example.get("word_boxes") is not None:
            words, boxes = split_word_boxes(example["word_boxes"])
        elif image is not None:
            words, boxes = apply_tesseract(image, lang=lang, tesseract_config=tesseract_config)
        else:
            raise ValueError("You must provide an image or word_boxes. If you provide an image, the pipeline will "
                             "automatically run OCR to derive words and boxes")
        return question, words, boxes

    # ---- postprocess --------------------------------------------------------------
    def postprocess(self, windows, top_k=1, handle_impossible_answer=False, max_answer_len=15):
        min_null_score = 1000000.0  # large and positive
        answers = []
        for window in windows:
            starts, ends, scores, min_null_score = select_starts_ends(
                window["start_logits"], window["end_logits"], window["p_mask"], window["attention_mask"],
                min_null_score, top_k, handle_impossible_answer, max_answer_len)
            word_ids, words = window["word_ids"], window["words"]
            for s, e, score in zip(starts, ends, scores):
                first, last = word_ids[int(s)], word_ids[int(e)]
                if first is not None and last is not None:
                    answers.append({"score": float(score), "answer": " ".join(words[first:last + 1]),
                                    "start": first, "end": last})
        if handle_impossible_answer:
            answers.append({"score": float(min_null_score), "answer": "", "start": 0, "end": 0})
        return sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]


def split_word_boxes(word_boxes):
    """``(words, boxes)`` of ``word_boxes`` (``[(word, [x0, y0, x1, y1]), ...]``, integers in 0..1000); a clear
    error naming the item for anything else."""
    if isinstance(word_boxes, (str, dict)) or not hasattr(word_boxes, "__len__"):
        raise ValueError(f"word_boxes must be a list of (word, [x0, y0, x1, y1]) pairs, got "
                         f"{type(word_boxes).__name__}: {word_boxes!r:.80}.")
    if not len(word_boxes):
        raise ValueError("word_boxes is empty: the document has no words to answer from.")
    words, boxes = [], []
    for i, item in enumerate(word_boxes):
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 2:
            raise ValueError(f"word_boxes[{i}] must be a (word, [x0, y0, x1, y1]) pair, got {item!r:.80}.")
        word, box = item
        if not isinstance(word, str):
            raise ValueError(f"word_boxes[{i}]: the word must be a str, got {type(word).__name__}: {word!r:.80}.")
        box = np.asarray(box)
        if box.shape != (4,) or box.dtype.kind not in "iuf":
            raise ValueError(f"word_boxes[{i}] ({word!r}): the box must be 4 numbers [x0, y0, x1, y1], got "
                             f"{item[1]!r:.80}.")
        if box.dtype.kind == "f" and not np.all(box == np.round(box)):
            raise ValueError(f"word_boxes[{i}] ({word!r}): box coordinates are integers in 0..1000 (normalised to "
                             f"the page: keras_tfm.processing.ocr.normalize_box), got {item[1]!r}.")
        words.append(word)
        boxes.append([int(v) for v in box])
    check_word_boxes(words, boxes)  # 0..1000, right >= left, lower >= upper
    return words, boxes
