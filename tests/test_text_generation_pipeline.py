import json
import shutil

import pytest
import torch
import transformers
from tokenizers import ByteLevelBPETokenizer

import keras_tfm
from keras_tfm import pipeline

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CORPUS = ["Once upon a time there was a little model.", "Hello world, hello keras and transformers!",
          "The quick brown fox jumps over the lazy dog."] * 20


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("textgen")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>",
                                               eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                                               pad_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(path)
    torch.manual_seed(0)
    eos = tok.eos_token_id
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.3, bos_token_id=eos, eos_token_id=eos)
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(path)
    return path


def hf_pipe(path, **kwargs):
    tok = transformers.AutoTokenizer.from_pretrained(path, padding_side="left")
    return transformers.pipeline("text-generation", model=str(path), tokenizer=tok, **kwargs)


def test_matches_hf_pipeline(model_dir):
    ours, theirs = pipeline("text-generation", model=str(model_dir)), hf_pipe(model_dir)
    for kwargs in ({"max_new_tokens": 10}, {"max_new_tokens": 8, "return_full_text": False}):
        assert ours("Once upon a time", do_sample=False, **kwargs) == theirs("Once upon a time", do_sample=False,
                                                                             **kwargs)


def test_batching_with_left_padding(model_dir):
    ours, theirs = pipeline("text-generation", model=str(model_dir)), hf_pipe(model_dir)
    prompts = ["Hello", "The quick brown fox jumps"]
    expected = [theirs(p, max_new_tokens=6, do_sample=False) for p in prompts]  # one by one: no padding at all
    assert ours(prompts, max_new_tokens=6, batch_size=2, do_sample=False) == expected


def test_num_return_sequences_and_tensors(model_dir):
    gen = pipeline("text-generation", model=str(model_dir))
    out = gen("Hello", max_new_tokens=5, do_sample=True, num_return_sequences=3)
    assert len(out) == 3 and all(o["generated_text"].startswith("Hello") for o in out)
    ids = gen("Hello", max_new_tokens=5, return_tensors=True, do_sample=False)[0]["generated_token_ids"]
    assert len(ids) == len(gen.tokenizer("Hello")["input_ids"]) + 5


def test_chat_messages(model_dir):
    tok = keras_tfm.AutoTokenizer.from_pretrained(model_dir)
    hf_tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    messages = [{"role": "user", "content": "Hi"}]
    for kwargs in ({}, {"add_generation_prompt": True}):
        assert tok.apply_chat_template(messages, tokenize=False, **kwargs) == \
            hf_tok.apply_chat_template(messages, tokenize=False, **kwargs)
        assert tok.apply_chat_template(messages, **kwargs) == list(
            hf_tok.apply_chat_template(messages, **kwargs)["input_ids"])
    ours = pipeline("text-generation", model=str(model_dir))(messages, max_new_tokens=6, do_sample=False)
    theirs = hf_pipe(model_dir)(messages, max_new_tokens=6, do_sample=False)
    assert ours == theirs
    assert ours[0]["generated_text"][-1]["role"] == "assistant"


def test_bad_input(model_dir):
    gen = pipeline("text-generation", model=str(model_dir))
    with pytest.raises(ValueError, match="max_new_tokens"):
        gen("Hello", max_new_tokens=0)
    with pytest.raises(ValueError, match="not used by the model"):
        gen("Hello", max_new_tokenz=3)
    with pytest.raises(ValueError, match="text-generation pipeline takes"):
        gen(42)
    gen.tokenizer.pad_token = None
    with pytest.raises(ValueError, match="pad_token"):
        gen(["Hello", "The quick brown fox"], max_new_tokens=2, batch_size=2)
    with pytest.raises(ValueError, match="positions"):
        gen("Hello " * 100, max_new_tokens=50)  # the prompt alone is past the 128 positions
    with pytest.raises(ValueError, match="positions"):
        gen("Hello " * 50, max_new_tokens=50)  # the prompt fits, the new tokens would not


# ---------------------------------------------------------------------- generation settings


@pytest.fixture(scope="module")
def model_dir_12(model_dir, tmp_path_factory):
    """The same model, its generation_config.json saying max_new_tokens=12."""
    path = tmp_path_factory.mktemp("textgen12")
    shutil.copytree(model_dir, path, dirs_exist_ok=True)
    config = json.loads((path / "generation_config.json").read_text())
    (path / "generation_config.json").write_text(json.dumps({**config, "max_new_tokens": 12}))
    return path


def _new_tokens(gen, prompt, **kwargs):
    ids = gen(prompt, return_tensors=True, **kwargs)[0]["generated_token_ids"]
    return len(ids) - len(gen.tokenizer(prompt)["input_ids"])


def test_model_generation_config_beats_pipeline_defaults(model_dir_12):
    ours, theirs = pipeline("text-generation", model=str(model_dir_12)), hf_pipe(model_dir_12)
    assert ours.model.generation_config.max_new_tokens == 12
    assert _new_tokens(ours, "Hello", do_sample=False) == 12  # not the pipeline's 256
    assert ours("Hello", do_sample=False) == theirs("Hello", do_sample=False)
    assert _new_tokens(ours, "Hello", do_sample=False, max_new_tokens=5) == 5  # a call's own beats the model's
    assert ours("Hello", do_sample=False, max_new_tokens=5) == theirs("Hello", do_sample=False, max_new_tokens=5)
    at_init = pipeline("text-generation", model=str(model_dir_12), max_new_tokens=7, do_sample=False)
    assert _new_tokens(at_init, "Hello") == 7  # init arguments beat the model's too
    assert _new_tokens(at_init, "Hello", max_new_tokens=3) == 3
    # a call's generation_config replaces the init arguments (its unset fields: the pipeline's defaults)
    config = keras_tfm.GenerationConfig(max_new_tokens=4)
    assert _new_tokens(at_init, "Hello", generation_config=config, do_sample=False) == 4


@pytest.mark.parametrize("kwargs", [{}, {"do_sample": False}, {"max_length": 30}, {"temperature": 0.5},
                                    {"do_sample": True, "top_k": 3}, {"max_new_tokens": 9, "do_sample": False}])
@pytest.mark.parametrize("folder", ["model_dir", "model_dir_12"])
def test_generate_arguments_match_hf(folder, kwargs, request):
    """The generate() arguments a call gets: model config, then the user's, then the pipeline defaults, as HF 5."""
    path = request.getfixturevalue(folder)
    ours, theirs = pipeline("text-generation", model=str(path)), hf_pipe(path)
    assert ours._prepare_generate_kwargs(dict(kwargs)) == theirs._prepare_generate_kwargs(dict(kwargs))


def test_sampling_defaults_apply_only_when_the_model_leaves_them_unset(model_dir, tmp_path):
    shutil.copytree(model_dir, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "generation_config.json").read_text())
    (tmp_path / "generation_config.json").write_text(json.dumps({**config, "do_sample": True, "temperature": 0.9}))
    gen = pipeline("text-generation", model=str(tmp_path))
    kwargs = gen._prepare_generate_kwargs({})
    assert kwargs["max_new_tokens"] == 256 and "temperature" not in kwargs  # the model's 0.9 stays
    assert "temperature" not in pipeline("text-generation", model=str(model_dir))._prepare_generate_kwargs(
        {"do_sample": False})  # greedy: no sampling defaults


def test_one_pipeline_called_from_8_threads_equals_serial_calls(model_dir):
    """generate's compiled steps and caches are per call: 8 threads at once get the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    gen = pipeline("text-generation", model=str(model_dir))
    prompts = ["Hello world", "The cat", "One two three", "A long time ago", "Today", "We are", "It is", "Go"] * 2
    serial = [gen(p, max_new_tokens=6, do_sample=False) for p in prompts]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda p: gen(p, max_new_tokens=6, do_sample=False), prompts))
    assert threaded == serial
