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
        assert ours("Once upon a time", **kwargs) == theirs("Once upon a time", do_sample=False, **kwargs)


def test_batching_with_left_padding(model_dir):
    ours, theirs = pipeline("text-generation", model=str(model_dir)), hf_pipe(model_dir)
    prompts = ["Hello", "The quick brown fox jumps"]
    expected = [theirs(p, max_new_tokens=6, do_sample=False) for p in prompts]  # one by one: no padding at all
    assert ours(prompts, max_new_tokens=6, batch_size=2) == expected


def test_num_return_sequences_and_tensors(model_dir):
    gen = pipeline("text-generation", model=str(model_dir))
    out = gen("Hello", max_new_tokens=5, do_sample=True, num_return_sequences=3)
    assert len(out) == 3 and all(o["generated_text"].startswith("Hello") for o in out)
    ids = gen("Hello", max_new_tokens=5, return_tensors=True)[0]["generated_token_ids"]
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
    ours = pipeline("text-generation", model=str(model_dir))(messages, max_new_tokens=6)
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
        gen("Hello " * 100, max_new_tokens=50)
