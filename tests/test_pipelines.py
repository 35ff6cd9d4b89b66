"""pipeline(): parity with Hugging Face ``transformers.pipeline`` on the same folders, batching,
streaming, bad input, and default models resolved through the huggingface_hub cache."""

import functools
import itertools
import json
import os
import shutil
import types

import huggingface_hub
import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm import backend
from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.pipelines import KeyDataset, SUPPORTED_TASKS, infer_task, pipeline
from keras_tfm.processing import AutoTokenizer
from tests.conftest import minilm_dir

ATOL = 1e-4
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TEXTS = [
    "We are very happy to show you the Transformers library.",
    "We hope you don't hate it.",
    "Hugging Face Inc. is a company based in New York City, and Sylvain lives in Paris.",
]
CONTEXT = ("Hugging Face is a company based in New York City. Its headquarters are in DUMBO, "
           "therefore very close to the Manhattan Bridge. Sylvain works there since 2018.")


# ---------------------------------------------------------------------- fixtures


def _save_tiny(root, cls_name, **config):
    """A tiny random BERT head saved by transformers, with the MiniLM tokenizer files beside it."""
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=37, initializer_range=0.2, **config)
    getattr(transformers, cls_name)(hf_config).eval().save_pretrained(root)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(minilm_dir(), name), root)
    return str(root)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipelines")
    out = {
        "seq": _save_tiny(base / "seq", "BertForSequenceClassification",
                          id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1}),
        "seq3": _save_tiny(base / "seq3", "BertForSequenceClassification", num_labels=3),
        "seq1": _save_tiny(base / "seq1", "BertForSequenceClassification", num_labels=1),
        "tok": _save_tiny(base / "tok", "BertForTokenClassification", id2label=dict(enumerate(NER_LABELS))),
        "qa": _save_tiny(base / "qa", "BertForQuestionAnswering"),
        "mlm": _save_tiny(base / "mlm", "BertForMaskedLM"),
        "base": _save_tiny(base / "base", "BertModel"),
    }
    short = base / "tok_short"  # model_max_length 20: long texts need windows
    shutil.copytree(out["tok"], short)
    config = json.loads((short / "tokenizer_config.json").read_text())
    (short / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 20}))
    out["tok_short"] = str(short)
    return out


@pytest.fixture(scope="module")
def pipes(folders):
    """Our pipelines, built once."""
    return {
        "seq": pipeline("sentiment-analysis", model=folders["seq"]),
        "seq3": pipeline("text-classification", model=folders["seq3"]),
        "tok": pipeline("ner", model=folders["tok"]),
        "qa": pipeline("question-answering", model=folders["qa"]),
        "mlm": pipeline("fill-mask", model=folders["mlm"]),
    }


_HF = {}


def hf_pipe(task, folder, **kwargs):
    key = (task, folder, tuple(sorted(kwargs.items())))
    if key not in _HF:
        _HF[key] = transformers.pipeline(task, model=folder, **kwargs)
    return _HF[key]


def assert_same(ours, theirs, path="result"):
    """Same structure, same strings and ints, floats within ATOL; ours holds only Python types."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), (path, ours, theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, list) and len(ours) == len(theirs), (path, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(theirs, (float, np.floating)):
        assert type(ours) is float, (path, type(ours))
        assert abs(ours - float(theirs)) <= ATOL, (path, ours, theirs)
    elif isinstance(theirs, (int, np.integer)) and not isinstance(theirs, bool):
        assert type(ours) is int and ours == int(theirs), (path, ours, theirs)
    else:
        assert ours == theirs, (path, ours, theirs)


# ---------------------------------------------------------------------- text classification


def test_text_classification_matches_hf(folders, pipes):
    hf = hf_pipe("sentiment-analysis", folders["seq"])
    ours = pipes["seq"]
    assert_same(ours(TEXTS[0]), hf(TEXTS[0]))  # [{'label', 'score'}]
    assert_same(ours(TEXTS), hf(TEXTS))
    pair = {"text": TEXTS[0], "text_pair": TEXTS[1]}
    assert_same(ours(pair), hf(pair))
    assert_same(ours([pair, pair]), hf([pair, pair]))
    assert ours(TEXTS[0])[0]["label"] in ("POSITIVE", "NEGATIVE")


@pytest.mark.parametrize("kwargs", [
    {"top_k": None}, {"top_k": 2}, {"top_k": 1}, {"function_to_apply": "sigmoid"},
    {"function_to_apply": "none", "top_k": None}, {"function_to_apply": "softmax"},
])
def test_text_classification_options_match_hf(folders, pipes, kwargs):
    hf = hf_pipe("text-classification", folders["seq3"])
    assert_same(pipes["seq3"](TEXTS[1], **kwargs), hf(TEXTS[1], **kwargs))
    assert_same(pipes["seq3"](TEXTS, **kwargs), hf(TEXTS, **kwargs))


def test_single_label_model_uses_sigmoid(folders):
    hf = hf_pipe("text-classification", folders["seq1"])
    ours = pipeline("text-classification", model=folders["seq1"])
    assert_same(ours(TEXTS), hf(TEXTS))
    logit = ours(TEXTS[0], function_to_apply="none")[0]["score"]
    assert abs(ours(TEXTS[0])[0]["score"] - 1 / (1 + np.exp(-logit))) < 1e-6


def test_init_kwargs_are_defaults_and_calls_override(folders, pipes):
    ours = pipeline("text-classification", model=pipes["seq3"].model, tokenizer=pipes["seq3"].tokenizer, top_k=None,
                    device="cpu")
    hf = hf_pipe("text-classification", folders["seq3"], top_k=None)
    assert_same(ours(TEXTS[0]), hf(TEXTS[0]))  # [[3 labels]]: HF's shape when top_k is not a call argument
    assert_same(ours(TEXTS), hf(TEXTS))
    assert len(ours(TEXTS[0], top_k=1)) == 1


# ---------------------------------------------------------------------- token classification


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_matches_hf(folders, pipes, strategy):
    hf = hf_pipe("ner", folders["tok"])
    ours = pipes["tok"]
    assert_same(ours(TEXTS[2], aggregation_strategy=strategy), hf(TEXTS[2], aggregation_strategy=strategy))
    assert_same(ours(TEXTS, aggregation_strategy=strategy, ignore_labels=[]),
                hf(TEXTS, aggregation_strategy=strategy, ignore_labels=[]))


def test_token_classification_spans_point_into_the_text(pipes):
    entities = pipes["tok"](TEXTS[2], aggregation_strategy="simple", ignore_labels=[])
    assert entities, "ignore_labels=[] keeps every token"
    for e in entities:
        assert set(e) == {"entity_group", "score", "word", "start", "end"}
        assert TEXTS[2][e["start"]:e["end"]].lower().replace(" ", "") == e["word"].replace(" ", "").replace("##", "")
    for e in pipes["tok"](TEXTS[2], ignore_labels=[]):
        assert set(e) == {"entity", "score", "index", "word", "start", "end"}


def test_token_classification_stride_and_split_words_match_hf(folders, pipes):
    long_text = " ".join(TEXTS * 2)
    hf = hf_pipe("ner", folders["tok_short"], aggregation_strategy="first", stride=5)
    short_tokenizer = AutoTokenizer.from_pretrained(folders["tok_short"])  # model_max_length 20
    ours = pipeline("ner", model=pipes["tok"].model, tokenizer=short_tokenizer, aggregation_strategy="first", stride=5)
    assert_same(ours(long_text, ignore_labels=[]), hf(long_text, ignore_labels=[]))
    words = TEXTS[2].split()
    hf_words = hf_pipe("ner", folders["tok"])
    assert_same(pipes["tok"](words, is_split_into_words=True), hf_words(words, is_split_into_words=True))
    with pytest.raises(ValueError, match="stride"):
        pipes["tok"](long_text, stride=4)  # needs an aggregation strategy


# ---------------------------------------------------------------------- fill-mask


def test_fill_mask_matches_hf(folders, pipes):
    hf = hf_pipe("fill-mask", folders["mlm"])
    ours = pipes["mlm"]
    text = "Paris is the [MASK] of France."
    assert_same(ours(text), hf(text))
    assert_same(ours([text, "I [MASK] you."]), hf([text, "I [MASK] you."]))
    assert_same(ours([text]), hf([text]))  # a list of one gives one list, as HF
    assert_same(ours(text, top_k=2), hf(text, top_k=2))
    targets = ["capital", "city", "paris"]
    assert_same(ours(text, targets=targets), hf(text, targets=targets))
    two = "The [MASK] is the [MASK] of France."
    assert_same(ours(two, top_k=3), hf(two, top_k=3))
    result = ours(text)
    assert len(result) == 5 and set(result[0]) == {"score", "token", "token_str", "sequence"}


def test_fill_mask_needs_a_mask_token(pipes):
    with pytest.raises(ValueError, match=r"No mask_token \(\[MASK\]\)"):
        pipes["mlm"]("There is no mask here.")


# ---------------------------------------------------------------------- question answering


def reference_answer(folder, question, context, max_answer_len=15, max_seq_len=384, doc_stride=128,
                     handle_impossible_answer=False):
    """Best span by brute force over HF's logits (windows, word alignment, merged duplicates)."""
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    enc = tok(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
              return_overflowing_tokens=True, return_offsets_mapping=True)
    answers, null = {}, 1e6
    for w in range(len(enc["input_ids"])):
        with torch.no_grad():
            out = model(**{name: torch.tensor([enc[name][w]]) for name in tok.model_input_names})
        allowed = np.array([s == 1 for s in enc.sequence_ids(w)])
        allowed[0] = True  # [CLS]
        probs = [np.exp(x - x.max()) / np.exp(x - x.max()).sum() for x in
                 (np.where(allowed, logits[0].numpy(), -10000.0) for logits in (out.start_logits, out.end_logits))]
        null = min(null, probs[0][0] * probs[1][0])
        context_tokens = np.flatnonzero(allowed)[1:]
        score, s, e = max((probs[0][s] * probs[1][e], s, e) for s, e in itertools.product(context_tokens, repeat=2)
                          if 0 <= e - s < max_answer_len)
        encoding = enc.encodings[w]
        start = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
        end = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
        key = context[start:end].lower()
        previous = answers.get(key, {"score": 0.0, "start": start, "end": end, "answer": context[start:end]})
        answers[key] = {**previous, "score": previous["score"] + float(score)}
    best = max(answers.values(), key=lambda a: a["score"])
    if handle_impossible_answer and null > best["score"]:
        return {"score": float(null), "start": 0, "end": 0, "answer": ""}
    return best


def test_question_answering_matches_reference(folders, pipes):
    question = "Where is Hugging Face based?"
    expected = reference_answer(folders["qa"], question, CONTEXT)
    assert_same(pipes["qa"](question=question, context=CONTEXT), expected)
    assert_same(pipes["qa"]({"question": question, "context": CONTEXT}), expected)
    both = pipes["qa"]([{"question": question, "context": CONTEXT}] * 2, batch_size=2)
    assert_same(both, [expected, expected])
    short = reference_answer(folders["qa"], question, CONTEXT, max_answer_len=1)
    assert_same(pipes["qa"](question=question, context=CONTEXT, max_answer_len=1), short)
    top = pipes["qa"](question=question, context=CONTEXT, top_k=3)
    assert isinstance(top, list) and 1 < len(top) <= 3
    assert top[0]["score"] >= pipes["qa"](question=question, context=CONTEXT)["score"] - 1e-7  # duplicates add up
    assert [a["score"] for a in top] == sorted((a["score"] for a in top), reverse=True)
    for answer in top:
        assert CONTEXT[answer["start"]:answer["end"]] == answer["answer"]


def test_question_answering_on_distilbert_takes_no_token_type_ids(tmp_path):
    """DistilBERT has no segment embeddings: its tokenizer lists no token_type_ids, so the pipeline
    passes none (the QA tokenizer call asks for them), as transformers does."""
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    transformers.DistilBertForQuestionAnswering(config).eval().save_pretrained(tmp_path)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(minilm_dir(), name), tmp_path)
    tokenizer_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**tokenizer_config,
                                                                "tokenizer_class": "DistilBertTokenizer"}))
    question = "Where is Hugging Face based?"
    qa = pipeline("question-answering", model=str(tmp_path))
    assert "token_type_ids" not in qa.model_input_names
    assert_same(qa(question=question, context=CONTEXT), reference_answer(str(tmp_path), question, CONTEXT))


def test_question_answering_long_context_uses_windows(folders, pipes):
    question = "Who works there?"
    context = " ".join([CONTEXT] * 3)
    expected = reference_answer(folders["qa"], question, context, max_seq_len=40, doc_stride=10)
    assert_same(pipes["qa"](question=question, context=context, max_seq_len=40, doc_stride=10), expected)
    impossible = reference_answer(folders["qa"], question, context, max_seq_len=40, doc_stride=10,
                                  handle_impossible_answer=True)
    assert_same(pipes["qa"](question=question, context=context, max_seq_len=40, doc_stride=10,
                            handle_impossible_answer=True), impossible)


class _NoOverflowTokenizer:
    """A tokenizer whose __call__ has no return_overflowing_tokens: QA falls back to truncation."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)

    def __call__(self, text, text_pair=None, **kwargs):
        assert "return_overflowing_tokens" not in kwargs and kwargs["truncation"] == "only_second"
        return self._tokenizer(text, text_pair, **kwargs)


def test_question_answering_without_overflowing_tokens_truncates(folders, pipes):
    qa = pipeline("question-answering", model=pipes["qa"].model, tokenizer=_NoOverflowTokenizer(pipes["qa"].tokenizer))
    question = "Where is Hugging Face based?"
    assert_same(qa(question=question, context=CONTEXT), reference_answer(folders["qa"], question, CONTEXT))
    context = " ".join([CONTEXT] * 3)  # one window of 40 tokens: the rest of the context is cut
    answer = qa(question=question, context=context, max_seq_len=40)
    assert answer["end"] <= len(CONTEXT) and context[answer["start"]:answer["end"]] == answer["answer"]


def test_question_answering_bad_inputs(pipes):
    with pytest.raises(KeyError, match="context"):
        pipes["qa"]({"question": "Where?"})
    with pytest.raises(ValueError, match="cannot be empty"):
        pipes["qa"](question="Where?", context="")
    with pytest.raises(ValueError, match="same|match"):
        pipes["qa"](question=["a?", "b?"], context=["c"])
    with pytest.raises(ValueError, match="top_k"):
        pipes["qa"](question="Where?", context=CONTEXT, top_k=0)


# ---------------------------------------------------------------------- feature extraction


def test_feature_extraction_matches_hf_on_minilm():
    hf = hf_pipe("feature-extraction", minilm_dir())
    ours = pipeline("feature-extraction", model=minilm_dir())
    for a, b in zip(ours(TEXTS), hf(TEXTS)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.shape[0] == 1 and a.shape[2] == 384
        assert np.abs(a - b).max() <= ATOL
    single = ours(TEXTS[0])
    assert isinstance(single, list) and isinstance(single[0][0][0], float)
    tensor = ours(TEXTS[0], return_tensors=True)
    assert backend.is_tensor(tensor) and tuple(tensor.shape) == np.asarray(single).shape
    batched = ours(TEXTS, batch_size=2)  # padding is cut again: same shapes as one at a time
    for a, b in zip(batched, ours(TEXTS)):
        assert np.asarray(a).shape == np.asarray(b).shape
        assert np.abs(np.asarray(a) - np.asarray(b)).max() <= ATOL
    truncated = ours(TEXTS[2], truncation=True, tokenize_kwargs={"max_length": 6})
    assert np.asarray(truncated).shape == (1, 6, 384)


def test_quick_tour_instances(folders):
    """The quick tour's way: a model and a tokenizer loaded by the user, passed as instances."""
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(folders["seq"])
    tokenizer = AutoTokenizer.from_pretrained(folders["seq"])
    classifier = pipeline("sentiment-analysis", model=model, tokenizer=tokenizer)
    assert_same(classifier(TEXTS), hf_pipe("sentiment-analysis", folders["seq"])(TEXTS))
    assert pipeline("sentiment-analysis", model=model)(TEXTS) == classifier(TEXTS)  # tokenizer from name_or_path


# ---------------------------------------------------------------------- batching and streaming


def test_batch_size_two_equals_one(pipes):
    for name, inputs in (("seq", TEXTS), ("tok", TEXTS), ("mlm", ["I [MASK] you.", "Paris is the [MASK] of France."])):
        one, two = pipes[name](inputs, batch_size=1), pipes[name](inputs, batch_size=2)
        assert_same(two, one)
    assert pipes["seq"]([]) == []
    default_two = pipeline("sentiment-analysis", model=pipes["seq"].model, tokenizer=pipes["seq"].tokenizer,
                           batch_size=2)
    assert default_two(TEXTS) == pipes["seq"](TEXTS, batch_size=2)


def test_generator_input_is_streamed_lazily(pipes):
    pulled = []

    def texts():
        for text in TEXTS * 2:
            pulled.append(text)
            yield text

    out = pipes["seq"](texts(), batch_size=2)
    assert isinstance(out, types.GeneratorType) and pulled == []
    first = next(out)
    assert len(pulled) == 2  # one batch pulled, not the whole input
    rest = list(out)
    assert_same([first, *rest], pipes["seq"](TEXTS * 2))


def test_dataset_like_input_is_streamed(pipes):
    rows = [{"text": t, "id": i} for i, t in enumerate(TEXTS)]
    out = pipes["seq"](KeyDataset(rows, "text"), batch_size=2)
    assert isinstance(out, types.GeneratorType)
    assert_same(list(out), pipes["seq"](TEXTS))
    qa_stream = pipes["qa"]({"question": "Where?", "context": c} for c in TEXTS)
    assert [a["answer"] for a in qa_stream] == [a["answer"] for a in
                                                pipes["qa"](question=["Where?"] * 3, context=TEXTS)]


# ---------------------------------------------------------------------- the factory


def test_task_inferred_from_config_architectures(folders, pipes):
    assert type(pipeline(model=folders["seq"])).__name__ == "TextClassificationPipeline"
    assert type(pipeline(model=folders["base"])).__name__ == "FeatureExtractionPipeline"  # BertModel
    for name, task in (("mlm", "fill-mask"), ("tok", "token-classification"), ("qa", "question-answering")):
        assert infer_task(folders[name], None, {}) == task
        assert infer_task(pipes[name].model, None, {}) == task
    with pytest.raises(ValueError, match="Cannot infer the task"):
        infer_task(object(), None, {})


def test_bad_inputs_give_clear_errors(folders, pipes):
    with pytest.raises(ValueError, match="Unknown task 'not-a-task'.*sentiment-analysis"):
        pipeline("not-a-task", model=folders["seq"])
    with pytest.raises(NotImplementedError, match="'zero-shot-classification'"):
        pipeline("zero-shot-classification", model=folders["seq"])
    with pytest.raises(NotImplementedError, match="'text-to-audio'"):
        pipeline("text-to-audio")
    with pytest.raises(ValueError, match="task"):
        pipeline()
    with pytest.raises(ValueError, match="got int: 123"):
        pipes["seq"](123)
    with pytest.raises(ValueError, match="texts\\[1\\]|got NoneType"):
        pipes["seq"](["fine", None])
    with pytest.raises(ValueError, match="got bytes"):
        pipes["tok"](b"bytes")
    with pytest.raises(ValueError, match="top_k"):
        pipes["mlm"]("I [MASK] you.", top_k=0)
    with pytest.raises(ValueError, match="aggregation_strategy"):
        pipes["tok"](TEXTS[0], aggregation_strategy="best")
    with pytest.raises(ValueError, match="function_to_apply"):
        pipes["seq"](TEXTS[0], function_to_apply="tanh")
    with pytest.raises(ValueError, match="batch_size"):
        pipes["seq"](TEXTS, batch_size=0)
    with pytest.raises(ValueError, match="at most 512"):
        pipes["seq"]("word " * 600)
    assert len(pipes["seq"]("word " * 600, truncation=True)) == 1


def test_model_instance_without_name_needs_a_tokenizer(folders):
    config = keras_tfm.AutoConfig.from_pretrained(folders["seq"])
    model = keras_tfm.AutoModelForSequenceClassification.from_config(config)
    with pytest.raises(ValueError, match="tokenizer"):
        pipeline("text-classification", model=model)
    tokenizer = AutoTokenizer.from_pretrained(folders["seq"])
    assert pipeline("text-classification", model=model, tokenizer=folders["seq"], device=-1)(TEXTS[0])
    assert pipeline("text-classification", model=model, tokenizer=tokenizer)(TEXTS[0])


def test_pipeline_save_pretrained_round_trip(pipes, tmp_path):
    pipes["seq"].save_pretrained(tmp_path / "saved")
    again = pipeline("sentiment-analysis", model=str(tmp_path / "saved"))
    assert_same(again(TEXTS), pipes["seq"](TEXTS))


# ---------------------------------------------------------------------- default models and the hub cache

DEFAULT_ID, DEFAULT_REVISION = SUPPORTED_TASKS["text-classification"]["default"]["model"]


def test_task_table_has_hf_defaults():
    assert (DEFAULT_ID, DEFAULT_REVISION) == ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f")
    ner_default = SUPPORTED_TASKS["token-classification"]["default"]["model"]
    assert ner_default == ("dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496")
    assert SUPPORTED_TASKS["fill-mask"]["default"]["model"] == ("distilbert/distilroberta-base", "fb53ab8")
    for task in ("text-generation", "summarization", "image-classification", "image-segmentation", "object-detection",
                 "audio-classification", "automatic-speech-recognition", "visual-question-answering",
                 "document-question-answering", "image-to-text"):
        assert SUPPORTED_TASKS[task]["default"]["model"][0]


def _offline(monkeypatch, cache):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))


def test_default_model_offline_and_not_cached_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    _offline(monkeypatch, tmp_path / "empty-cache")
    with pytest.raises(ModelNotFoundError) as info:
        pipeline("sentiment-analysis")
    message = str(info.value)
    assert DEFAULT_ID in message and f"hf download {DEFAULT_ID}" in message and "model=" in message
    with pytest.raises(ModelNotFoundError, match=DEFAULT_ID):
        pipeline("sentiment-analysis", model_kwargs={"cache_dir": str(tmp_path / "other")})


def _fake_hub_cache(cache, source_folder, commit):
    """The huggingface_hub cache layout: blobs, snapshots/<commit>/ symlinks, refs/main."""
    repo = cache / ("models--" + DEFAULT_ID.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for i, name in enumerate(sorted(os.listdir(source_folder))):
        blob = repo / "blobs" / f"{i:040x}"
        shutil.copy(os.path.join(source_folder, name), blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    return repo


@pytest.fixture(scope="module")
def tiny_saved_by_us(folders, tmp_path_factory):
    """A tiny BERT and its tokenizer written by keras_tfm's own save_pretrained."""
    folder = tmp_path_factory.mktemp("saved") / "ours"
    keras_tfm.AutoModelForSequenceClassification.from_pretrained(folders["seq"]).save_pretrained(folder)
    AutoTokenizer.from_pretrained(folders["seq"]).save_pretrained(folder)
    return folder


def test_default_model_loads_from_the_hub_cache(tiny_saved_by_us, pipes, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    _offline(monkeypatch, cache)
    _fake_hub_cache(cache, tiny_saved_by_us, DEFAULT_REVISION + "a" * 33)  # the pinned commit
    classifier = pipeline("sentiment-analysis")  # through HF_HUB_CACHE
    assert_same(classifier(TEXTS), pipes["seq"](TEXTS))
    assert_same(pipeline("sentiment-analysis", cache_dir=str(cache))(TEXTS[0]), pipes["seq"](TEXTS[0]))


def test_default_model_falls_back_to_the_cached_main_branch(tiny_saved_by_us, pipes, tmp_path, monkeypatch, caplog):
    cache = tmp_path / "hub"
    _offline(monkeypatch, tmp_path / "unused")
    _fake_hub_cache(cache, tiny_saved_by_us, "0123456789" * 4)  # main is not the pinned commit
    classifier = pipeline("sentiment-analysis", model_kwargs={"cache_dir": str(cache)})
    assert_same(classifier(TEXTS[1]), pipes["seq"](TEXTS[1]))
    assert "not in the cache" in caplog.text


# ---------------------------------------------------------------------- any processor, padding by key


class _ToyImageProcessor:
    """Resizes nothing: an image is already a (C, H, W) array."""

    def __call__(self, image):
        return {"pixel_values": np.asarray(image, dtype="float32")}


class _ToyFeatureExtractor:
    """Raw audio as it is; batches are padded with ``padding_value``."""

    padding_value = -1.0

    def __call__(self, waveform):
        return {"input_values": np.asarray(waveform, dtype="float32")}


class _ToyProcessor:
    """Holds a tokenizer, an image processor and a feature extractor, as a multimodal processor does."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.image_processor = _ToyImageProcessor()
        self.feature_extractor = _ToyFeatureExtractor()


class _EchoModel(keras.Model):
    """Returns the batch it was given (token ids twice: one copy is cut back to each text's length)."""

    def __init__(self):
        super().__init__(name="echo")  # a valid TF name scope (the class name's underscore is not)
        self.scale = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")

    def call(self, input_ids, attention_mask=None, pixel_values=None, input_values=None, training=False):
        masked_sum = keras.ops.sum(keras.ops.cast(input_ids, "float32") * keras.ops.cast(attention_mask, "float32"),
                                   axis=1, keepdims=True)
        return {"ids": input_ids, "padded_ids": input_ids, "pixels": pixel_values, "audio": input_values,
                "masked_sum": self.scale(masked_sum)[:, 0]}


def _echo_model():
    model = _EchoModel()
    model(input_ids=np.ones((1, 3), "int32"), attention_mask=np.ones((1, 3), "int32"),
          pixel_values=np.zeros((1, 3, 4, 4), "float32"), input_values=np.zeros((1, 5), "float32"))
    return model


class _TextImageAudioPipeline(keras_tfm.pipelines.Pipeline):
    """A pipeline over (text, image, waveform) items: one key of each kind."""

    _load_tokenizer = True
    _load_image_processor = True
    _load_feature_extractor = True
    output_keys = ("ids", "padded_ids", "pixels", "audio", "masked_sum")
    token_output_keys = ("ids",)

    def _sanitize_parameters(self, **kwargs):
        return {}, {}, {}

    def preprocess(self, item):
        text, image, waveform = item
        feature = {**self.tokenizer(text), **self.image_processor(image), **self.feature_extractor(waveform)}
        feature["samples"] = len(waveform)  # metadata: not a model input
        return feature

    def postprocess(self, outputs):
        return outputs


def _items(rs, lengths=(5, 40, 17)):
    texts = ["hello world", "a somewhat longer sentence with more words in it " * 2, "short"]
    return [(t, rs.rand(3, 4, 4), rs.rand(n)) for t, n in zip(texts, lengths)]


@pytest.fixture(scope="module")
def toy_pipe(folders):
    tokenizer = AutoTokenizer.from_pretrained(folders["seq"])
    tokenizer.pad_token = "[UNK]"  # a pad id that is not 0, to see it in the batch
    return _TextImageAudioPipeline(_echo_model(), tokenizer=tokenizer, image_processor=_ToyImageProcessor(),
                                   feature_extractor=_ToyFeatureExtractor(), task="toy")


def test_batch_is_padded_by_key(toy_pipe):
    items = _items(np.random.RandomState(0))
    batched = toy_pipe(items, batch_size=3)
    pad_id = toy_pipe.tokenizer.pad_token_id
    assert pad_id == 100
    widths = {len(r["padded_ids"]) for r in batched}
    longest = max(len(toy_pipe.tokenizer(text)["input_ids"]) for text, _, _ in items)
    assert widths == {-(-longest // 4) * 4}  # masked token inputs: 3 rows, rounded up to a multiple of 16 / 3 -> 4
    for (text, image, waveform), result in zip(items, batched):
        ids = toy_pipe.tokenizer(text)["input_ids"]
        assert result["ids"].tolist() == ids  # cut back to the text's length
        assert result["padded_ids"][len(ids):].tolist() == [pad_id] * (len(result["padded_ids"]) - len(ids))
        assert result["masked_sum"] == pytest.approx(sum(ids))  # the padding is masked
        np.testing.assert_array_equal(result["pixels"], image.astype("float32"))  # stacked
        audio = result["audio"]
        assert len(audio) == 40  # raw audio: padded to the longest waveform (it has no mask here)
        np.testing.assert_array_equal(audio[:len(waveform)], waveform.astype("float32"))
        assert (audio[len(waveform):] == -1.0).all()  # with the feature extractor's padding_value
        assert result["samples"] == len(waveform)
    one_by_one = toy_pipe(items, batch_size=1)
    for a, b in zip(batched, one_by_one):
        assert len(b["padded_ids"]) == -(-len(b["ids"]) // 16) * 16  # one row: a multiple of 16
        assert a["ids"].tolist() == b["ids"].tolist() and a["masked_sum"] == pytest.approx(b["masked_sum"])
        np.testing.assert_array_equal(b["audio"], a["audio"][:len(b["audio"])])


class _AudioEchoModel(keras.Model):
    """Returns the raw audio batch and its mask."""

    def __init__(self):
        super().__init__(name="audio_echo")
        self.scale = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")

    def call(self, input_values, attention_mask=None, training=False):
        masked = input_values * keras.ops.cast(attention_mask, "float32")
        return {"audio": input_values, "mask": attention_mask,
                "masked_sum": self.scale(keras.ops.sum(masked, axis=1, keepdims=True))[:, 0]}


class _MaskingFeatureExtractor(_ToyFeatureExtractor):
    def __call__(self, waveform):
        return {**super().__call__(waveform), "attention_mask": np.ones(len(waveform), "int32")}


class _AudioPipeline(keras_tfm.pipelines.Pipeline):
    _load_feature_extractor = True
    output_keys = ("audio", "mask", "masked_sum")

    def _sanitize_parameters(self, **kwargs):
        return {}, {}, {}

    def preprocess(self, waveform):
        return self.feature_extractor(waveform)

    def postprocess(self, outputs):
        return outputs


def test_raw_audio_with_its_mask_is_padded_and_bucketed():
    model = _AudioEchoModel()
    model(input_values=np.zeros((1, 5), "float32"), attention_mask=np.ones((1, 5), "int32"))
    pipe = _AudioPipeline(model, feature_extractor=_MaskingFeatureExtractor(), task="audio")
    waveforms = [np.random.RandomState(i).rand(n).astype("float32") for i, n in enumerate((7, 29, 13))]
    for batch_size, width in ((3, 32), (1, None)):  # 3 rows: a multiple of 4; 1 row: of 16
        for waveform, result in zip(waveforms, pipe(waveforms, batch_size=batch_size)):
            expected_width = width or -(-len(waveform) // 16) * 16
            assert result["audio"].shape == (expected_width,) and result["mask"].shape == (expected_width,)
            np.testing.assert_array_equal(result["audio"][:len(waveform)], waveform)
            assert (result["audio"][len(waveform):] == -1.0).all()  # the feature extractor's padding_value
            assert result["mask"].tolist() == [1] * len(waveform) + [0] * (expected_width - len(waveform))
            assert result["masked_sum"] == pytest.approx(float(waveform.sum()), rel=1e-5)


def test_fixed_shape_inputs_of_different_shapes_are_an_error(toy_pipe):
    rs = np.random.RandomState(1)
    items = _items(rs)
    items[1] = (items[1][0], rs.rand(3, 5, 4), items[1][2])
    with pytest.raises(ValueError, match=r"'pixel_values'.*\(3, 4, 4\) \(feature 0\), \(3, 5, 4\) \(feature 1\)"):
        toy_pipe(items, batch_size=3)
    assert len(toy_pipe(items, batch_size=1)) == 3  # one at a time, nothing to stack


def test_missing_processor_is_a_clear_error(folders, toy_pipe):
    tokenizer, model = toy_pipe.tokenizer, toy_pipe.model
    with pytest.raises(ValueError, match=r"toy pipeline needs a feature extractor \(feature_extractor=\.\.\.\)"):
        _TextImageAudioPipeline(model, tokenizer=tokenizer, image_processor=_ToyImageProcessor(), task="toy")
    with pytest.raises(ValueError, match=r"needs a tokenizer \(tokenizer=\.\.\.\)"):
        _TextImageAudioPipeline(model, processor=types.SimpleNamespace(image_processor=_ToyImageProcessor(),
                                                                       feature_extractor=_ToyFeatureExtractor()))
    with pytest.raises(ValueError, match="needs a tokenizer"):
        keras_tfm.pipelines.TextClassificationPipeline(pipeline("sentiment-analysis", model=folders["seq"]).model)
    from_processor = _TextImageAudioPipeline(model, processor=_ToyProcessor(tokenizer), task="toy")
    assert from_processor.tokenizer is tokenizer and from_processor.feature_extractor.padding_value == -1.0
    items = _items(np.random.RandomState(2))
    for a, b in zip(from_processor(items, batch_size=3), toy_pipe(items, batch_size=3)):
        assert a["ids"].tolist() == b["ids"].tolist()


def test_features_without_a_model_input_are_an_error(toy_pipe):
    class NoInputs(_TextImageAudioPipeline):
        def preprocess(self, item):
            return {"text": item[0]}

    with pytest.raises(ValueError, match="hold no input of _EchoModel"):
        NoInputs(toy_pipe.model, processor=_ToyProcessor(toy_pipe.tokenizer), task="toy")(_items(np.random)[0])


def test_pipeline_loads_processors_by_task_type(folders, toy_pipe):
    text = pipeline("text-classification", model=folders["seq"])
    assert text.tokenizer is not None and text.image_processor is None and text.feature_extractor is None
    image_processor = _ToyImageProcessor()

    class ImagePipeline(_TextImageAudioPipeline):
        _load_tokenizer = None  # used when given
        _load_feature_extractor = None

    image = pipeline("image-classification", model=toy_pipe.model, pipeline_class=ImagePipeline,
                     image_processor=image_processor, tokenizer=toy_pipe.tokenizer)
    assert image.image_processor is image_processor and image.feature_extractor is None
    with pytest.raises(ValueError, match=r"needs image_processor=\.\.\."):  # an image task: the image processor
        pipeline("image-classification", model=toy_pipe.model, pipeline_class=ImagePipeline)
    audio = pipeline("audio-classification", model=toy_pipe.model, pipeline_class=ImagePipeline,
                     feature_extractor=_ToyFeatureExtractor(), image_processor=image_processor)
    assert audio.feature_extractor.padding_value == -1.0 and audio.tokenizer is None
    with pytest.raises(ValueError, match=r"needs feature_extractor=\.\.\."):  # an audio task: the feature extractor
        pipeline("audio-classification", model=toy_pipe.model, pipeline_class=ImagePipeline,
                 image_processor=image_processor)
    multimodal = pipeline("visual-question-answering", model=toy_pipe.model, pipeline_class=_TextImageAudioPipeline,
                          processor=_ToyProcessor(toy_pipe.tokenizer))
    assert multimodal.tokenizer is toy_pipe.tokenizer and multimodal.image_processor is not None
    # by name: a text task's tokenizer from a folder; an image task asks the image processor's Auto class
    by_name = pipeline("text-classification", model=text.model, tokenizer=folders["seq"])
    assert by_name.tokenizer.pad_token_id == text.tokenizer.pad_token_id
    with pytest.raises((NotImplementedError, ValueError, OSError), match="(?i)image|preprocessor"):
        pipeline("image-classification", model=folders["seq"], pipeline_class=ImagePipeline)


def test_pipelines_run_the_compiled_forward(folders, monkeypatch):
    classifier = pipeline("sentiment-analysis", model=folders["seq"])
    same_bucket = ["We hope you don't hate it.", "We are very happy to show you it."]  # both pad to 16 tokens
    for _ in range(2):  # torch traces a shape at its second call
        classifier(same_bucket[0])
    forward = classifier.compiled_forward
    compiled = dict(forward._compiled)
    assert len(compiled) == 1
    python_calls = []
    model_call = classifier.model.call

    @functools.wraps(model_call)
    def counted_call(*args, **kwargs):
        python_calls.append(1)
        return model_call(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "call", counted_call)
    results = [classifier(text) for text in same_bucket]
    monkeypatch.undo()
    assert python_calls == []  # the compiled program ran, not the Keras model
    assert classifier.compiled_forward is forward and forward._compiled == compiled  # nothing compiled again
    assert_same(results, [hf_pipe("sentiment-analysis", folders["seq"])(text) for text in same_bucket])
    classifier(" ".join(TEXTS))  # longer: a new padded shape
    assert len(forward._compiled) == 2


def test_one_pipeline_called_from_8_threads_equals_serial_calls(pipes):
    """A pipeline object holds no per-call state: 8 threads calling it at once get what serial calls get."""
    from concurrent.futures import ThreadPoolExecutor

    words = ["good", "bad", "Paris", "Anna", "slow", "bright", "London", "late"]
    texts = [f"{a} and {b} went to {c} today." for a, b, c in zip(words, words[3:] + words[:3], words[5:] + words[:5])]
    calls = {
        "seq": lambda pipe, text: pipe(text, top_k=None),
        "tok": lambda pipe, text: pipe(text),
        "mlm": lambda pipe, text: pipe(text.replace("today", "[MASK]"), top_k=3),
        "qa": lambda pipe, text: pipe(question="Who went?", context=text),
    }
    for name, call in calls.items():
        serial = [call(pipes[name], text) for text in texts * 2]
        with ThreadPoolExecutor(8) as pool:
            threaded = list(pool.map(lambda text: call(pipes[name], text), texts * 2))
        assert_same(threaded, serial, path=name)
