"""summarization / translation / text2text-generation: what transformers 4.57's pipelines gave on the
same tiny BART and T5 (tests/fixtures/seq2seq/, written by tests/make_seq2seq_fixtures.py), on
every backend; plus bad input."""

import json
import logging
import os

import pytest

from keras_tfm import GenerationConfig, pipeline
from keras_tfm.pipelines import SUPPORTED_TASKS, KeyDataset, check_task, infer_task
from keras_tfm.pipelines.text2text_generation import (
    SummarizationPipeline,
    Text2TextGenerationPipeline,
    TranslationPipeline,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "seq2seq")
with open(os.path.join(ROOT, "pipeline_outputs.json")) as f:
    CASES = {case["name"]: case for case in json.load(f)["cases"]}

_PIPES = {}


def get_pipe(model, task, **init_kwargs):
    """One pipeline per (model, task, init kwargs) for the whole module (loading is the slow part)."""
    key = (model, task, json.dumps(init_kwargs, sort_keys=True))
    if key not in _PIPES:
        _PIPES[key] = pipeline(task, model=os.path.join(ROOT, model), **init_kwargs)
    return _PIPES[key]


def run_case(case):
    pipe = get_pipe(case["model"], case["task"], **case["init_kwargs"])
    return pipe(case["inputs"], **case["call_kwargs"])


def hf_check_warnings(case):
    """The warnings of HF's pipeline about the input / length settings (those the pipeline itself logs)."""
    return [w for w in case["warnings"] if w.startswith(("Your ", '"translation" task was used'))]


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_encoder_inputs_as_transformers_4(name):
    case = CASES[name]
    pipe = get_pipe(case["model"], case["task"], **case["init_kwargs"])
    texts = case["inputs"] if isinstance(case["inputs"], list) else [case["inputs"]]
    preprocess_params = {**pipe._preprocess_params, **pipe._sanitize_parameters(**case["call_kwargs"])[0]}
    ids = [pipe.preprocess(text, **preprocess_params)["input_ids"] for text in texts]
    if name == "bart_summarization_long_truncated":
        assert len(ids[0]) == 128
    assert ids == case["input_ids"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outputs_and_warnings_as_transformers_4(name, caplog):
    case = CASES[name]
    get_pipe(case["model"], case["task"], **case["init_kwargs"])  # loading logs what a pipeline made anew logs
    with caplog.at_level(logging.WARNING):
        output = run_case(case)
    assert output == case["output"]
    logged = {record.getMessage() for record in caplog.records}
    for warning in hf_check_warnings(case):
        if not warning.startswith('"translation"'):  # logged when the pipeline is made, checked below
            assert warning in logged


def test_pipeline_classes_and_generation_settings():
    summarizer = get_pipe("bart-tiny", "summarization")
    assert type(summarizer) is SummarizationPipeline
    config = summarizer.generation_config
    # task_specific_params["summarization"] over the model's generation config and the pipeline defaults
    assert (config.num_beams, config.min_length, config.max_length, config.length_penalty) == (3, 8, 30, 2.0)
    assert config.max_new_tokens is None  # the model's max_length (40) dropped the pipeline's 256
    generator = get_pipe("bart-tiny", "text2text-generation")
    assert type(generator) is Text2TextGenerationPipeline
    assert (generator.generation_config.num_beams, generator.generation_config.max_length) == (4, 40)
    translator = get_pipe("t5-tiny", "translation_en_to_de")
    assert type(translator) is TranslationPipeline
    assert translator.prefix == "translate English to German: "
    assert (translator.generation_config.max_new_tokens, translator.generation_config.max_length) == (256, 20)
    t5_summarizer = get_pipe("t5-tiny", "summarization")
    assert t5_summarizer.prefix == "summarize: "
    assert get_pipe("t5-tiny", "text2text-generation").prefix is None


def test_bare_translation_task_takes_the_models_first_translation_entry(caplog):
    with caplog.at_level(logging.WARNING):
        translator = pipeline("translation", model=os.path.join(ROOT, "t5-tiny"))
    assert translator.task == "translation_en_to_de"
    assert translator.prefix == "translate English to German: "
    assert any('defaulting to "translation_en_to_de"' in r.getMessage() for r in caplog.records)


def test_translation_task_without_a_prefix_runs_the_text_as_it_is_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        translator = pipeline("translation_en_to_it", model=os.path.join(ROOT, "t5-tiny"))
    assert translator.prefix is None
    assert any("no task_specific_params['translation_en_to_it']" in r.getMessage() for r in caplog.records)


def test_src_lang_and_tgt_lang_that_disagree_with_the_task_are_ignored_with_a_warning(caplog):
    translator = get_pipe("t5-tiny", "translation_en_to_fr")
    with caplog.at_level(logging.WARNING):
        translator._sanitize_parameters(src_lang="en", tgt_lang="de")
    assert any("src_lang='en' / tgt_lang='de' are ignored" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        translator._sanitize_parameters(src_lang="en", tgt_lang="fr")
    assert not caplog.records


def test_generators_and_key_datasets_stream_one_list_per_input():
    case = CASES["bart_summarization_batch"]
    summarizer = get_pipe(case["model"], case["task"])
    streamed = summarizer((text for text in case["inputs"]), batch_size=2)
    assert not isinstance(streamed, list)
    assert list(streamed) == [[record] for record in case["output"]]
    dataset = [{"text": text} for text in case["inputs"][:2]]
    assert list(summarizer(KeyDataset(dataset, "text"))) == [[record] for record in case["output"][:2]]


def test_return_text_false_still_returns_text_as_transformers_4():
    case = CASES["bart_summarization_min_max_length"]
    summarizer = get_pipe(case["model"], case["task"])
    assert summarizer(case["inputs"], return_text=False, **case["call_kwargs"]) == case["output"]


def test_input_longer_than_the_positions_is_truncated_with_a_warning(caplog):
    case = CASES["bart_summarization_long_truncated"]  # HF ran it with truncation=True
    summarizer = get_pipe(case["model"], case["task"])
    with caplog.at_level(logging.WARNING):
        assert summarizer(case["inputs"]) == case["output"]
    assert any("truncated to 128 tokens" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="at most 128 positions"):
        summarizer(case["inputs"], truncation=False)


def test_empty_document_runs_as_transformers_4_with_a_warning(caplog):
    case = CASES["bart_summarization_empty"]
    summarizer = get_pipe(case["model"], case["task"])
    with caplog.at_level(logging.WARNING):
        assert summarizer("") == case["output"]
    assert any("got an empty input" in r.getMessage() for r in caplog.records)


def test_bad_inputs_give_clear_errors():
    summarizer = get_pipe("bart-tiny", "summarization")
    with pytest.raises(ValueError, match="summarization pipeline takes a str.*got int"):
        summarizer(3)
    with pytest.raises(ValueError, match="got NoneType"):
        summarizer(["fine", None])
    with pytest.raises(ValueError, match="Invalid translation task 'translation_en'"):
        check_task("translation_en")
    with pytest.raises(ValueError, match="default model per language pair"):
        pipeline("translation")
    with pytest.raises(ValueError, match="no.*default models for options \\('en', 'it'\\)"):
        pipeline("translation_en_to_it")
    with pytest.raises(ValueError, match="not used by the model.*not_a_generate_argument"):
        summarizer("text", not_a_generate_argument=1)
    with pytest.raises(ValueError, match="AutoModelForSeq2SeqLM has no model for model_type 'bert'"):
        pipeline("summarization", model=os.path.join(ROOT, "..", "convert", "bert-ForMaskedLM"))


def test_a_generation_config_given_to_the_pipeline_replaces_defaults_and_task_settings():
    summarizer = pipeline("summarization", model=os.path.join(ROOT, "t5-tiny"),
                          generation_config=GenerationConfig(num_beams=1, max_new_tokens=5), min_length=2)
    config = summarizer.generation_config
    assert (config.num_beams, config.max_new_tokens, config.min_length) == (1, 5, 2)
    assert config.no_repeat_ngram_size == 0  # task_specific_params["summarization"] not applied
    assert config.eos_token_id == 1  # the model's generation config fills the rest
    assert summarizer.prefix == "summarize: "
    assert len(summarizer(CASES["t5_summarization"]["inputs"], return_tensors=True)[0]["summary_token_ids"]) <= 6


def test_task_table_has_transformers_4_defaults():
    assert SUPPORTED_TASKS["summarization"]["default"]["model"] == ("sshleifer/distilbart-cnn-12-6", "a4f8f3e")
    assert SUPPORTED_TASKS["text2text-generation"]["default"]["model"] == ("google-t5/t5-base", "a9723ea")
    for pair in (("en", "fr"), ("en", "de"), ("en", "ro")):
        assert SUPPORTED_TASKS["translation"]["default"][pair]["model"] == ("google-t5/t5-base", "a9723ea")
    assert check_task("translation_en_to_de") == ("translation_en_to_de", SUPPORTED_TASKS["translation"])
    assert infer_task(os.path.join(ROOT, "bart-tiny"), None, {}) == "text2text-generation"
