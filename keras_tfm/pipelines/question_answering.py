"""``question-answering``: the span of a context that answers a question (extractive QA).

Hugging Face ``transformers`` 5 removed this pipeline; this follows its last version
(4.x): contexts longer than ``max_seq_len`` are cut into windows that overlap by
``doc_stride`` tokens, every window is scored, and the best spans win.
"""

import inspect
import types

import numpy as np

from keras_tfm.pipelines.base import Pipeline, check_text


class QuestionAnsweringPipeline(Pipeline):
    """Answers questions from a context with any ``*ForQuestionAnswering`` model.

    Example:
        >>> qa = pipeline("question-answering", model=folder)
        >>> qa(question="Where do I live?", context="My name is Wolfgang and I live in Berlin")
        {'score': 0.98, 'start': 33, 'end': 39, 'answer': 'Berlin'}

    Inputs: ``question=`` and ``context=`` (str or lists), a dict ``{"question",
    "context"}``, or a list or generator of such dicts. Call arguments: ``top_k`` (1),
    ``max_answer_len`` (15 tokens), ``handle_impossible_answer`` (False),
    ``max_seq_len`` (384), ``doc_stride`` (128), ``max_question_len``, ``align_to_words``
    (True).
    """

    chunked = True
    output_keys = ("start_logits", "end_logits")
    _load_tokenizer = True
    token_output_keys = ("start_logits", "end_logits")

    def _sanitize_parameters(self, padding=None, topk=None, top_k=None, doc_stride=None, max_answer_len=None,
                             max_seq_len=None, max_question_len=None, handle_impossible_answer=None,
                             align_to_words=None):
        preprocess = {k: v for k, v in (("doc_stride", doc_stride), ("max_question_len", max_question_len),
                                        ("max_seq_len", max_seq_len)) if v is not None}
        if doc_stride is not None and max_seq_len is not None and doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        postprocess = span_parameters(top_k if top_k is not None else topk, max_answer_len, handle_impossible_answer)
        if align_to_words is not None:
            postprocess["align_to_words"] = align_to_words
        return preprocess, {}, postprocess

    def __call__(self, *args, **kwargs):
        """Answers one question (-> a dict, or a list of top_k dicts) or several (-> a list)."""
        examples = question_answering_inputs(*args, question=kwargs.pop("question", None),
                                             context=kwargs.pop("context", None), **_pop_data(kwargs))
        if isinstance(examples, list) and len(examples) == 1:
            return super().__call__(examples[0], **kwargs)
        return super().__call__(examples, **kwargs)

    # ---- preprocess ---------------------------------------------------------------
    def preprocess(self, example, doc_stride=None, max_question_len=64, max_seq_len=None):
        """One feature per window of the context."""
        question, context = normalize_example(example)
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}).")
        question_first = self.tokenizer.padding_side == "right"
        encoded = self._encode(question, context, question_first, max_seq_len, doc_stride)
        features = []
        for i in range(len(encoded["input_ids"])):
            ids = encoded["input_ids"][i]
            # p_mask: 1 where a token cannot be in the answer (question, special tokens), 0 in the context.
            p_mask = [int(s != 1) if question_first else 0 for s in encoded.sequence_ids(i)]
            for j, token in enumerate(ids):
                if token == self.tokenizer.cls_token_id:
                    p_mask[j] = 0  # some models point at [CLS] for "no answer"
            features.append({
                "input_ids": ids,
                "attention_mask": encoded["attention_mask"][i],
                "token_type_ids": encoded["token_type_ids"][i],
                "p_mask": p_mask,
                "encoding": encoded.encodings[i],
                "context": context,
            })
        return features

    def _encode(self, question, context, question_first, max_seq_len, doc_stride):
        """Tokenizes the pair, cut into overlapping windows when the tokenizer can."""
        first, second = (question, context) if question_first else (context, question)
        kwargs = dict(truncation="only_second" if question_first else "only_first", max_length=max_seq_len,
                      return_token_type_ids=True, return_attention_mask=True, return_offsets_mapping=True,
                      return_special_tokens_mask=True)
        if _supports(self.tokenizer, "return_overflowing_tokens"):
            kwargs.update(return_overflowing_tokens=True, stride=doc_stride)
        return self.tokenizer([first], [second], **kwargs)

    # ---- postprocess --------------------------------------------------------------
    def postprocess(self, windows, top_k=1, handle_impossible_answer=False, max_answer_len=15, align_to_words=True):
        min_null_score = 1000000.0  # large and positive
        answers = []
        sequence_index = 1 if self.tokenizer.padding_side == "right" else 0
        for window in windows:
            starts, ends, scores, min_null_score = select_starts_ends(
                window["start_logits"], window["end_logits"], window["p_mask"], window["attention_mask"],
                min_null_score, top_k, handle_impossible_answer, max_answer_len)
            context = window["context"]
            for s, e, score in zip(starts, ends, scores):
                start, end = get_indices(window["encoding"], int(s), int(e), sequence_index, align_to_words)
                text = context[start:end]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += float(score)
                else:
                    answers.append({"score": float(score), "start": int(start), "end": int(end), "answer": text})
        if handle_impossible_answer:
            answers.append({"score": float(min_null_score), "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def span_parameters(top_k, max_answer_len, handle_impossible_answer):
    """The span-selection arguments given (``postprocess``'s), checked: ``top_k`` and
    ``max_answer_len`` at least 1."""
    for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len)):
        if value is not None and value < 1:
            raise ValueError(f"{name} parameter should be >= 1 (got {value}).")
    return {name: value for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len),
                                            ("handle_impossible_answer", handle_impossible_answer))
            if value is not None}


def question_answering_inputs(*args, question=None, context=None, X=None, data=None):
    """Normalizes the ways to pass questions: a list of {question, context} dicts, or a generator."""
    if args:
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            inputs = [{"question": args[0], "context": args[1]}]
        else:
            inputs = args[0] if len(args) == 1 else list(args)
    elif X is not None or data is not None:
        inputs = X if X is not None else data
    elif question is not None and context is not None:
        inputs = _pairs(question, context)
    else:
        raise ValueError("Pass question= and context=, or a dict {'question': ..., 'context': ...} "
                         "(or a list of them).")
    if isinstance(inputs, types.GeneratorType) or not isinstance(inputs, (dict, list, tuple)):
        if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
            raise ValueError("question-answering takes dicts {'question', 'context'}, "
                             f"got {type(inputs).__name__}: {inputs!r:.80}.")
        return inputs  # streamed: checked item by item
    inputs = [inputs] if isinstance(inputs, dict) else list(inputs)
    for item in inputs:
        normalize_example(item)
    return inputs


def _pairs(question, context):
    if isinstance(question, list) and isinstance(context, str):
        return [{"question": q, "context": context} for q in question]
    if isinstance(question, list) and isinstance(context, list):
        if len(question) != len(context):
            raise ValueError(f"Got {len(question)} questions and {len(context)} contexts: they must match.")
        return [{"question": q, "context": c} for q, c in zip(question, context)]
    if isinstance(question, str) and isinstance(context, str):
        return [{"question": question, "context": context}]
    raise ValueError(f"question and context must be str or lists of str, got {type(question).__name__} "
                     f"and {type(context).__name__}.")


def normalize_example(item):
    """(question, context) of a dict input; raises a clear error otherwise."""
    if not isinstance(item, dict):
        raise ValueError(f"question-answering takes dicts {{'question': ..., 'context': ...}}, "
                         f"got {type(item).__name__}: {item!r:.80}.")
    for key in ("question", "context"):
        if key not in item:
            raise KeyError(f"You need to provide a dictionary with keys {{question:..., context:...}}; "
                           f"'{key}' is missing.")
        if item[key] is None:
            raise ValueError(f"`{key}` cannot be None.")
        check_text("question-answering", item[key], f"a str as {key}")
        if not item[key]:
            raise ValueError(f"`{key}` cannot be empty.")
    return item["question"], item["context"]


def decode_spans(start, end, top_k, max_answer_len, undesired_tokens):
    """The ``top_k`` (start, end, score) spans of probability start[s] * end[e], e - s < max_answer_len."""
    start, end = np.atleast_2d(start), np.atleast_2d(end)
    outer = np.matmul(start[..., None], end[:, None, :])  # (1, T, T)
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        order = [np.argmax(flat)]
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        idx = np.argpartition(-flat, top_k)[:top_k]
        order = idx[np.argsort(-flat[idx])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    allowed = undesired_tokens.nonzero()
    keep = np.isin(starts, allowed) & np.isin(ends, allowed)
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def select_starts_ends(start, end, p_mask, attention_mask, min_null_score=1000000, top_k=1,
                       handle_impossible_answer=False, max_answer_len=15):
    """Softmax over the allowed tokens, the null score, and the best spans (as Hugging Face 4.x)."""
    start = np.asarray(start, dtype="float32")[None]
    end = np.asarray(end, dtype="float32")[None]
    allowed = np.abs(np.asarray(p_mask)[None] - 1)  # 1 where a token may be in the answer
    if attention_mask is not None:
        allowed = allowed & np.asarray(attention_mask)[None]
    blocked = allowed == 0
    start = np.where(blocked, -10000.0, start)
    end = np.where(blocked, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, float(start[0, 0] * end[0, 0]))
    start[0, 0] = end[0, 0] = 0.0  # never answer with [CLS] itself
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, allowed)
    return starts, ends, scores, min_null_score


def get_indices(encoding, s, e, sequence_index, align_to_words):
    """Character span of tokens s..e in the context, widened to whole words when asked."""
    if align_to_words:
        try:
            start_word, end_word = encoding.token_to_word(s), encoding.token_to_word(e)
            return (encoding.word_to_chars(start_word, sequence_index=sequence_index)[0],
                    encoding.word_to_chars(end_word, sequence_index=sequence_index)[1])
        except Exception:  # tokenizers without words: keep to the token offsets
            pass
    return encoding.offsets[s][0], encoding.offsets[e][1]


def _supports(tokenizer, argument):
    try:
        return argument in inspect.signature(tokenizer.__call__).parameters
    except (TypeError, ValueError):
        return False


def _pop_data(kwargs):
    return {key: kwargs.pop(key) for key in ("X", "data") if key in kwargs}
