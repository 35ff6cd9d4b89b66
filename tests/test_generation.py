import threading

import keras
import numpy as np
import pytest
import torch
import transformers
from transformers.generation import logits_process as hf_lp

import keras_tfm
from keras_tfm import backend
from keras_tfm.generation import logits_process as lp
from tests.generation_tester import assert_generate_matches, hf_generate, left_padded
from tests.model_tester import to_np


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=99, n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(path)
    return hf, keras_tfm.AutoModelForCausalLM.from_pretrained(path)


class CharTokenizer:
    """ids -> letters: enough for stop strings and streamers."""

    def decode(self, ids, **kwargs):
        return "".join(" " if int(t) % 7 == 0 else chr(97 + int(t) % 26) for t in np.asarray(ids).reshape(-1))


# ---- processors against transformers' own, on random scores ----------------------------------
@pytest.mark.parametrize("ours,theirs", [
    (lp.TemperatureLogitsWarper(0.7), hf_lp.TemperatureLogitsWarper(0.7)),
    (lp.TopKLogitsWarper(5), hf_lp.TopKLogitsWarper(5)),
    (lp.TopPLogitsWarper(0.8), hf_lp.TopPLogitsWarper(0.8)),
    (lp.MinPLogitsWarper(0.1), hf_lp.MinPLogitsWarper(0.1)),
    (lp.RepetitionPenaltyLogitsProcessor(1.5, np.array([0, 2])),
     hf_lp.RepetitionPenaltyLogitsProcessor(1.5, prompt_ignore_length=torch.tensor([0, 2]))),
    (lp.NoRepeatNGramLogitsProcessor(2), hf_lp.NoRepeatNGramLogitsProcessor(2)),
    (lp.NoBadWordsLogitsProcessor([[4], [7, 8], [3, 9]], [2]),
     hf_lp.NoBadWordsLogitsProcessor([[4], [7, 8], [3, 9]], 2)),
    (lp.MinNewTokensLengthLogitsProcessor(3, 4, [2, 5]), hf_lp.MinNewTokensLengthLogitsProcessor(3, 4, [2, 5])),
])
def test_processors_match_hf(ours, theirs):
    rng = np.random.RandomState(0)
    ids = np.array([[3, 7, 8, 3, 7], [9, 9, 3, 7, 3]])
    scores = (rng.randn(2, 20) * 3).astype("float32")
    expected = theirs(torch.tensor(ids), torch.tensor(scores)).numpy()
    np.testing.assert_allclose(ours(ids, scores), expected, rtol=1e-6, atol=1e-6)


# ---- generate against transformers' generate -------------------------------------------------
def test_penalties_and_bans_match_hf(models):
    hf, ours = models
    ids, mask = left_padded(99)
    assert_generate_matches(ours, hf, ids, mask, max_new_tokens=20, do_sample=False, repetition_penalty=1.3,
                            no_repeat_ngram_size=2, bad_words_ids=[[40], [11, 12]])


def test_min_new_tokens_and_several_eos_match_hf(models):
    hf, ours = models
    ids, mask = left_padded(99)
    free = hf_generate(hf, ids, mask, max_new_tokens=12, do_sample=False)
    eos = [int(free[0, 8]), int(free[1, 10])]  # tokens greedy decoding does produce
    out = assert_generate_matches(ours, hf, ids, mask, max_new_tokens=12, do_sample=False, eos_token_id=eos,
                                  pad_token_id=1)
    assert out.shape[1] < free.shape[1]  # stopped early
    assert_generate_matches(ours, hf, ids, mask, max_new_tokens=12, do_sample=False, eos_token_id=eos,
                            pad_token_id=1, min_new_tokens=5)


def test_greedy_on_device_matches_hf_across_chunks(models, monkeypatch):
    """Plain greedy runs DECODE_CHUNK steps per compiled call where the backend compiles loops:
    eos met mid-chunk by one row and in a later chunk by the other stops as HF does, and the
    tokens equal the host loop's (the one scores are returned from)."""
    from keras_tfm.generation import search, steppers

    hf, ours = models
    ids, mask = left_padded(99)
    chunk = steppers.DECODE_CHUNK
    free = hf_generate(hf, ids, mask, max_new_tokens=2 * chunk + 8, do_sample=False)
    eos = [int(free[0, ids.shape[1] + chunk + 3]), int(free[1, ids.shape[1] + 2 * chunk + 5])]
    calls = []
    original = search.greedy_chunks
    monkeypatch.setattr(search, "greedy_chunks", lambda *a: calls.append(1) or original(*a))
    kwargs = dict(max_new_tokens=2 * chunk + 8, do_sample=False, eos_token_id=eos, pad_token_id=1)
    out = assert_generate_matches(ours, hf, ids, mask, **kwargs)
    assert len(calls) == int(backend.COMPILED_LOOPS)
    host = ours.generate(ids, attention_mask=mask, return_dict_in_generate=True, output_scores=True, **kwargs)
    np.testing.assert_array_equal(to_np(host.sequences), out)
    assert len(calls) == int(backend.COMPILED_LOOPS)  # scores requested: the host loop


def test_beam_search_options_match_hf(models):
    hf, ours = models
    ids, mask = left_padded(99)
    assert_generate_matches(ours, hf, ids, mask, max_new_tokens=10, num_beams=4, early_stopping=True,
                            length_penalty=0.5, no_repeat_ngram_size=3, do_sample=False, eos_token_id=[5, 9])


def test_scores_match_hf(models):
    hf, ours = models
    ids, mask = left_padded(99)
    with torch.no_grad():
        theirs = hf.generate(torch.tensor(ids), attention_mask=torch.tensor(mask), max_new_tokens=5, do_sample=False,
                             return_dict_in_generate=True, output_scores=True, repetition_penalty=1.2)
    mine = ours.generate(ids, attention_mask=mask, max_new_tokens=5, return_dict_in_generate=True,
                         output_scores=True, repetition_penalty=1.2)
    np.testing.assert_array_equal(to_np(mine.sequences), theirs.sequences.numpy())
    assert len(mine.scores) == len(theirs.scores) == 5
    for a, b in zip(mine.scores, theirs.scores):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-4)


# ---- sampling ------------------------------------------------------------------------------
def test_sampling_is_seeded_and_reproducible(models):
    _, ours = models
    ids, mask = left_padded(99)
    kwargs = dict(attention_mask=mask, max_new_tokens=16, do_sample=True, top_k=20, top_p=0.9, temperature=0.8,
                  min_p=0.01)
    keras.utils.set_random_seed(3)
    a = to_np(ours.generate(ids, **kwargs))
    keras.utils.set_random_seed(3)
    b = to_np(ours.generate(ids, **kwargs))
    np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(4)
    c = to_np(ours.generate(ids, num_return_sequences=3, **{**kwargs, "attention_mask": mask}))
    assert c.shape[0] == 6
    greedy = to_np(ours.generate(ids, attention_mask=mask, max_new_tokens=16))
    np.testing.assert_array_equal(to_np(ours.generate(ids, attention_mask=mask, max_new_tokens=16, do_sample=True,
                                                      top_k=1)), greedy)


# ---- stop strings, streamers -----------------------------------------------------------------
def test_stop_strings(models):
    _, ours = models
    ids = np.array([[5, 6, 7]])
    tok = CharTokenizer()
    free = to_np(ours.generate(ids, max_new_tokens=20))[0, 3:]
    text = tok.decode(free)
    stop = text[6:8]
    first = text.find(stop)
    out = to_np(ours.generate(ids, max_new_tokens=20, stop_strings=stop, tokenizer=tok))[0, 3:]
    assert tok.decode(out).endswith(stop) and len(tok.decode(out)) == first + len(stop)
    with pytest.raises(ValueError, match="tokenizer"):
        ours.generate(ids, max_new_tokens=5, stop_strings=stop)


def test_streamers(models, capsys):
    _, ours = models
    ids = np.array([[5, 6, 7]])
    tok = CharTokenizer()
    out = to_np(ours.generate(ids, max_new_tokens=10, streamer=keras_tfm.TextStreamer(tok, skip_prompt=True)))
    assert capsys.readouterr().out.strip() == tok.decode(out[0, 3:]).strip()
    streamer = keras_tfm.TextIteratorStreamer(tok, timeout=60)
    thread = threading.Thread(target=ours.generate, args=(ids,), kwargs={"max_new_tokens": 10, "streamer": streamer})
    thread.start()
    pieces = list(streamer)
    thread.join()
    assert "".join(pieces) == tok.decode(out[0])
    with pytest.raises(ValueError, match="beam"):
        ours.generate(ids, max_new_tokens=3, num_beams=2, streamer=keras_tfm.TextStreamer(tok))


# ---- config and bad input ------------------------------------------------------------------------
def test_generation_config_object_and_defaults(models, tmp_path):
    hf, ours = models
    config = keras_tfm.GenerationConfig(max_new_tokens=4, do_sample=False)
    config.save_pretrained(tmp_path)
    assert transformers.GenerationConfig.from_pretrained(tmp_path).max_new_tokens == 4
    loaded = keras_tfm.GenerationConfig.from_pretrained(tmp_path)
    assert loaded == config
    assert to_np(ours.generate(np.array([[5, 6]]), generation_config=loaded)).shape == (1, 6)
    # nobody sets max_length: HF's default of 20 counts new tokens
    np.testing.assert_array_equal(to_np(ours.generate(np.array([[5, 6]]))), hf_generate(hf, np.array([[5, 6]]),
                                                                                     np.ones((1, 2), "int64")))


def test_passed_generation_config_takes_the_models_values_for_the_rest(tmp_path):
    """generate(generation_config=c) uses what c was given and the model's generation config for the
    rest (its eos, its sampling switch...), as transformers 5 does: same tokens as HF."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=99, n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.generation_config = transformers.GenerationConfig(bos_token_id=0, pad_token_id=1, max_new_tokens=12,
                                                         do_sample=True, temperature=0.5)
    ids = np.array([[5, 6, 7, 8]])
    # the eos the model would meet first in greedy decoding, so that only a config with it stops early
    greedy = hf.generate(torch.tensor(ids), do_sample=False, max_new_tokens=12).numpy()[0, 4:]
    hf.generation_config.eos_token_id = int(greedy[3])
    hf.save_pretrained(tmp_path)
    ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    for passed in ({"do_sample": False}, {"do_sample": False, "max_new_tokens": 6}):
        theirs = hf.generate(torch.tensor(ids), generation_config=transformers.GenerationConfig(**passed)).numpy()
        got = to_np(ours.generate(ids, generation_config=keras_tfm.GenerationConfig(**passed)))
        np.testing.assert_array_equal(got, theirs)
        assert got.shape[1] == 8  # stopped at the model's eos, which the passed config does not name


def test_generation_config_from_model_config_matches_hf(tmp_path):
    """The special token ids of a model config, decoder_start_token_id (encoder-decoders) included,
    become the generation config's, as in transformers; the saved file reads back in transformers."""
    hf_model_config = transformers.BartConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, decoder_start_token_id=2)
    ours = keras_tfm.GenerationConfig.from_model_config(hf_model_config)
    theirs = transformers.GenerationConfig.from_model_config(hf_model_config)
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        assert getattr(ours, key) == getattr(theirs, key), key
    ours.save_pretrained(tmp_path)
    assert transformers.GenerationConfig.from_pretrained(tmp_path).decoder_start_token_id == 2
    (tmp_path / "generation_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="generation_config.json must hold a JSON object"):
        keras_tfm.GenerationConfig.from_pretrained(tmp_path)


def test_bad_input_is_clear(models):
    _, ours = models
    ids = np.array([[5, 6, 7]])
    with pytest.raises(ValueError, match="not used by the model.*max_new_token"):
        ours.generate(ids, max_new_token=5)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="max_new_tokens"):
            ours.generate(ids, max_new_tokens=bad)
    with pytest.raises(ValueError, match="max_length"):
        ours.generate(ids, max_length=3)
    with pytest.raises(ValueError, match="num_return_sequences"):
        ours.generate(ids, max_new_tokens=3, num_return_sequences=2)
    with pytest.raises(ValueError, match="temperature"):
        ours.generate(ids, max_new_tokens=3, do_sample=True, temperature=0.0)


def test_decode_step_is_traced_once(models):
    """Prefill and decode are compiled once each; the 16 decode steps reuse the decode trace."""
    from keras_tfm.generation.steppers import CausalLMStepper

    _, ours = models
    calls = []
    original = CausalLMStepper.step

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    ours.__dict__.pop("_keras_tfm_stepper", None)
    CausalLMStepper.step = counting
    try:
        ours.generate(np.array([[5, 6, 7]]), max_new_tokens=16, eos_token_id=None)
    finally:
        CausalLMStepper.step = original
        ours.__dict__.pop("_keras_tfm_stepper", None)
    assert len(calls) == 2, len(calls)  # one trace for prefill, one for decode


@pytest.mark.skipif(backend.BACKEND != "tensorflow", reason="XLA's CPU output fusion of a batch-1 matmul: TF only")
def test_tensorflow_generation_step_keeps_batch1_matmuls_unfused():
    """In a generation step, a batch-1 Dense's matmul stays a (multi-threaded) library call.

    XLA on CPU fuses a matrix-vector dot with the add after it into one single-threaded
    loop ('kOutput' fusion); backend.decode_matmul prevents that while a step is traced.
    """
    import tensorflow as tf

    from keras_tfm.backend import tensorflow as tf_backend
    from keras_tfm.layers import fast

    dense = fast.Dense(64)
    x = tf.ones((1, 32))
    dense(x)

    def optimized_hlo(fn):
        return tf.function(fn, jit_compile=True).experimental_get_compiler_ir(x)(stage="optimized_hlo")

    if "kind=kOutput" not in optimized_hlo(lambda t: dense(t)):
        pytest.skip("this XLA no longer fuses a matrix-vector dot with its bias add")
    hlo = optimized_hlo(tf_backend._generation_trace(lambda t: dense(t)))
    assert "kind=kOutput" not in hlo, hlo
    # outside a generation step the layer is keras' Dense (trainable, no barrier op)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(dense(x))
    assert all(g is not None for g in tape.gradient(loss, dense.trainable_variables))


# ---- the cache grows as tokens come ----------------------------------------------------------
@pytest.fixture
def growth_spy(monkeypatch):
    """Caches made in slots of 8 with room for 8 new tokens; the slot counts each grown cache reached."""
    from keras_tfm.generation import steppers

    monkeypatch.setattr(steppers, "CACHE_SLOT_MULTIPLE", 8)
    monkeypatch.setattr(steppers, "FIRST_NEW_SLOTS", 8)
    grown, make_room = [], steppers.DecodingSession.make_room

    def spy(self, steps):
        before = self.cache.num_slots
        make_room(self, steps)
        if self.cache.num_slots != before:
            grown.append(self.cache.num_slots)

    monkeypatch.setattr(steppers.DecodingSession, "make_room", spy)
    return grown


def test_the_cache_doubles_as_tokens_come_and_generation_still_matches_hf(models, growth_spy):
    hf, ours = models
    ids, mask = left_padded(99)  # 7 tokens: a first cache of 16 slots, at most 72 for 60 new tokens
    assert_generate_matches(ours, hf, ids, mask, max_new_tokens=60, do_sample=False, eos_token_id=None)
    assert growth_spy == [32, 64, 72]
    growth_spy.clear()  # beam search reorders the grown cache
    assert_generate_matches(ours, hf, ids, mask, max_new_tokens=20, num_beams=3, do_sample=False, eos_token_id=None)
    assert growth_spy == [32]
    growth_spy.clear()  # the host loop (scores asked for) grows it one step at a time
    out = ours.generate(ids, attention_mask=mask, max_new_tokens=30, do_sample=False, eos_token_id=None,
                        return_dict_in_generate=True, output_scores=True)
    np.testing.assert_array_equal(to_np(out.sequences), hf_generate(hf, ids, mask, max_new_tokens=30, do_sample=False,
                                                                    eos_token_id=None))
    assert growth_spy == [32, 40]


def test_a_huge_max_new_tokens_cut_short_by_eos_allocates_only_the_first_cache():
    """The habit "a large max_new_tokens, stop at eos" costs nothing: the cache starts at the prompt
    plus FIRST_NEW_SLOTS, not at the prompt plus max_new_tokens (10**9 here: 128 GB of cache)."""
    from keras_tfm.generation import steppers

    config = keras_tfm.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    keras.utils.set_random_seed(0)
    model = keras_tfm.LlamaForCausalLM(config)
    prompt = np.array([[5, 6, 7]])
    first = int(to_np(model.generate(prompt, max_new_tokens=1, eos_token_id=None))[0, -1])
    made = []
    new_cache = steppers.Stepper.new_cache
    steppers.Stepper.new_cache = lambda self, batch, slots, **kw: made.append(slots) or new_cache(self, batch, slots,
                                                                                                  **kw)
    try:
        out = to_np(model.generate(prompt, max_new_tokens=10**9, eos_token_id=first))
    finally:
        steppers.Stepper.new_cache = new_cache
    assert out.tolist() == [[5, 6, 7, first]] and made == [steppers.cache_slots(3 + steppers.FIRST_NEW_SLOTS)]


@pytest.mark.skipif(backend.BACKEND != "torch", reason="torch's decode_matmul splits products across threads")
def test_generation_on_two_torch_threads_matches_hf(models, tmp_path):
    """At 2 threads the decode step's Dense layers and tied head are split across threads
    (backend.decode_matmul); the suite runs at 1. Both ways give HF's tokens, GPT-2 and Llama."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    transformers.LlamaForCausalLM(config).eval().save_pretrained(tmp_path)
    llama = (transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval(),
             keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path))
    ids, mask = left_padded(99)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for hf, ours in (models, llama):
            assert_generate_matches(ours, hf, ids, mask, max_new_tokens=10, do_sample=False)
    finally:
        torch.set_num_threads(threads)
