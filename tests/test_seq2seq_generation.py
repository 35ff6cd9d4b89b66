"""Encoder-decoder ``generate()``: the processors against transformers' own, the generation
parameters a model config carries (BART's summarization defaults), and, on the kit
encoder-decoder of ``test_encoder_decoder_kit`` (no HF twin), ``encoder_outputs=``,
``decoder_input_ids=`` and beam search with encoder padding against uncached reference loops.
"""

import json

import numpy as np
import pytest
import torch
import transformers
from transformers.generation import logits_process as hf_lp

import keras_tfm
from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.generation import GenerationConfig
from keras_tfm.generation import logits_process as lp
from keras_tfm.modeling_outputs import BaseModelOutput
from tests.generation_tester import assert_generate_matches
from tests.model_tester import to_np
from tests.test_encoder_decoder_kit import KitEncoderDecoder, config, encoder_inputs, uncached_logits

START = 2  # the kit model's decoder_start_token_id

BART_SUMMARIZATION = dict(max_length=142, min_length=56, num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0,
                          early_stopping=True, forced_bos_token_id=0)


# ---- processors against transformers' own, on random scores ----------------------------------
@pytest.mark.parametrize("ours,theirs", [
    (lp.ForcedBOSTokenLogitsProcessor(4), hf_lp.ForcedBOSTokenLogitsProcessor(4)),
    (lp.ForcedEOSTokenLogitsProcessor(6, [2, 5]), hf_lp.ForcedEOSTokenLogitsProcessor(6, [2, 5])),
    (lp.ForcedEOSTokenLogitsProcessor(7, 3), hf_lp.ForcedEOSTokenLogitsProcessor(7, 3)),
    (lp.MinLengthLogitsProcessor(6, [2, 5]), hf_lp.MinLengthLogitsProcessor(6, [2, 5])),
    (lp.EncoderNoRepeatNGramLogitsProcessor(2, np.array([[3, 7, 9, 1], [9, 3, 8, 7]])),
     hf_lp.EncoderNoRepeatNGramLogitsProcessor(2, torch.tensor([[3, 7, 9, 1], [9, 3, 8, 7]]))),
    (lp.EncoderNoRepeatNGramLogitsProcessor(3, np.array([[3, 7, 9, 1], [9, 3, 8, 7]])),
     hf_lp.EncoderNoRepeatNGramLogitsProcessor(3, torch.tensor([[3, 7, 9, 1], [9, 3, 8, 7]]))),
])
@pytest.mark.parametrize("length", [1, 2, 5])
def test_processors_match_hf(ours, theirs, length):
    """Four rows (two inputs of two beams each) of decoder ids of ``length``."""
    rng = np.random.RandomState(length)
    ids = rng.choice([3, 7, 8, 9], (4, length))
    scores = (rng.randn(4, 12) * 3).astype("float32")
    expected = theirs(torch.tensor(ids), torch.tensor(scores)).numpy()
    np.testing.assert_array_equal(ours(ids, scores), expected)


@pytest.mark.parametrize("settings", [
    dict(BART_SUMMARIZATION, forced_eos_token_id=2, repetition_penalty=1.2, encoder_no_repeat_ngram_size=2,
         bad_words_ids=[[5]], min_new_tokens=2),
    dict(do_sample=True, num_beams=2, top_k=4, top_p=0.9, temperature=0.7, forced_bos_token_id=0),
])
def test_processor_list_is_hfs(settings):
    """The same processors in the same order as ``_get_logits_processor`` builds on an
    encoder-decoder, and the same scores through the whole list."""
    hf = transformers.BartForConditionalGeneration(transformers.BartConfig(
        vocab_size=12, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=8, decoder_ffn_dim=8, max_position_embeddings=32))
    encoder_ids = np.array([[3, 7, 9, 1], [9, 3, 8, 7]])
    hf_config = transformers.GenerationConfig(eos_token_id=2, pad_token_id=1, decoder_start_token_id=2, **settings)
    hf._prepare_special_tokens(hf_config)
    theirs = hf._get_logits_processor(hf_config, input_ids_seq_length=1, encoder_input_ids=torch.tensor(encoder_ids),
                                      device="cpu", model_kwargs={})
    ours = lp.build_processors(GenerationConfig(eos_token_id=2, pad_token_id=1, **settings), 1, np.zeros(4, int),
                               [2], hf_config.max_length, encoder_ids)
    assert [type(p).__name__ for p in ours] == [type(p).__name__ for p in theirs]
    rng = np.random.RandomState(0)
    for length in (1, 3):
        ids = rng.choice([3, 7, 8, 9], (4, length))
        scores = (rng.randn(4, 12) * 3).astype("float32")
        expected = theirs(torch.tensor(ids), torch.tensor(scores)).numpy()
        np.testing.assert_allclose(ours(ids, scores), expected, rtol=1e-6, atol=1e-6)


# ---- the generation parameters of a model config ------------------------------------------------
def test_model_config_generation_parameters_as_hf(tmp_path):
    """A BART-like config.json's summarization parameters become the generation config's, as
    transformers' from_pretrained makes them (task_specific_params stays on the model config)."""
    hf_config = transformers.BartConfig(vocab_size=32, d_model=8, encoder_layers=1, decoder_layers=1,
                                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=8,
                                        decoder_ffn_dim=8, max_position_embeddings=160)
    transformers.BartForConditionalGeneration(hf_config).save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").unlink(missing_ok=True)
    config_file = tmp_path / "config.json"
    values = json.loads(config_file.read_text())
    values.update(BART_SUMMARIZATION, task_specific_params={"summarization": {"max_length": 9}})
    config_file.write_text(json.dumps(values))
    theirs = transformers.BartForConditionalGeneration.from_pretrained(tmp_path).generation_config
    ours = GenerationConfig.from_model_config(PretrainedConfig.from_pretrained(tmp_path))
    for key in list(BART_SUMMARIZATION) + ["forced_eos_token_id", "bos_token_id", "eos_token_id", "pad_token_id",
                                           "decoder_start_token_id"]:
        assert getattr(ours, key) == getattr(theirs, key), key
    assert not hasattr(ours, "task_specific_params")


def test_model_config_parameters_reach_generate():
    """A model whose config carries num_beams, max_length, min_length, no_repeat_ngram_size and
    forced_bos_token_id generates what the same parameters given to generate() give."""
    params = dict(max_length=9, min_length=7, num_beams=3, no_repeat_ngram_size=2, length_penalty=2.0,
                  early_stopping=True, forced_bos_token_id=5)
    with_params = KitEncoderDecoder(PretrainedConfig.from_dict(config().to_dict(), eos_token_id=4, **params))
    with_params.build_weights()
    # every key given: none of the model's generation config is used
    plain = GenerationConfig(**GenerationConfig.from_model_config(
        PretrainedConfig.from_dict(config().to_dict(), eos_token_id=4)).to_dict())
    ids, mask = encoder_inputs()
    got = to_np(with_params.generate(ids, attention_mask=mask))
    np.testing.assert_array_equal(got, to_np(with_params.generate(ids, attention_mask=mask, generation_config=plain,
                                                                  **params)))
    assert got.shape[1] <= 9 and (got[:, 1] == 5).all() and (got[:, 0] == START).all()
    without = to_np(with_params.generate(ids, attention_mask=mask, generation_config=plain))
    assert without.shape[1] == 20 and not (without[:, 1] == 5).all()  # max_length=20 given: 20 decoder tokens
    assert with_params.generation_config.num_beams == 3


# ---- the kit encoder-decoder against uncached reference loops ----------------------------------
@pytest.fixture(scope="module")
def model():
    return KitEncoderDecoder(config()).build_weights()


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def argmax_loop(model, ids, mask, decoder_ids, steps):
    for _ in range(steps):
        logits = uncached_logits(model, ids, mask, decoder_ids)[:, -1]
        decoder_ids = np.concatenate([decoder_ids, logits.argmax(-1)[:, None].astype(decoder_ids.dtype)], axis=1)
    return decoder_ids


def beam_loop(model, ids, mask, num_beams, steps):
    """Beam search without eos (every beam runs ``steps`` tokens), each step a full uncached
    forward pass of every beam: the best ``num_beams`` continuations by summed log-probability."""
    rows = np.repeat(np.arange(ids.shape[0]), num_beams)
    beams = np.full((len(rows), 1), START, "int32")
    scores = np.tile(np.r_[0.0, np.full(num_beams - 1, -1e9)], ids.shape[0])
    for _ in range(steps):
        log_probs = log_softmax(uncached_logits(model, ids[rows], mask[rows], beams)[:, -1])
        vocab = log_probs.shape[-1]
        total = (scores[:, None] + log_probs).reshape(ids.shape[0], -1)
        best = np.argsort(-total, axis=1, kind="stable")[:, :num_beams]
        source = (best // vocab + np.arange(ids.shape[0])[:, None] * num_beams).reshape(-1)
        beams = np.concatenate([beams[source], (best % vocab).reshape(-1, 1).astype("int32")], axis=1)
        scores = np.take_along_axis(total, best, axis=1).reshape(-1)
    return beams, scores


def test_encoder_outputs_given_skip_the_encoder(model):
    ids, mask = encoder_inputs()
    states = to_np(model.encode(ids, attention_mask=mask))
    expected = argmax_loop(model, ids, mask, np.full((3, 1), START, "int32"), 6)
    got = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=states), attention_mask=mask,
                         max_new_tokens=6)
    np.testing.assert_array_equal(to_np(got), expected)
    beams = model.generate(ids, attention_mask=mask, max_new_tokens=5, num_beams=3)
    from_states = model.generate(encoder_outputs=(states,), attention_mask=mask, max_new_tokens=5, num_beams=3)
    np.testing.assert_array_equal(to_np(from_states), to_np(beams))


def test_decoder_prompt(model):
    """decoder_input_ids continue the decoder: the start token is put first unless every row has
    it; max_length counts the decoder's tokens, the start token included."""
    ids, mask = encoder_inputs()
    prompt = np.array([[7, 8], [9, 10], [11, 12]])
    expected = argmax_loop(model, ids, mask, np.concatenate([np.full((3, 1), START), prompt], 1), 4)
    got = to_np(model.generate(ids, attention_mask=mask, decoder_input_ids=prompt, max_length=7))
    np.testing.assert_array_equal(got, expected)
    with_start = to_np(model.generate(ids, attention_mask=mask, decoder_input_ids=expected[:, :3], max_new_tokens=4))
    np.testing.assert_array_equal(with_start, expected)
    with pytest.raises(ValueError, match="decoder_input_ids is 3.*max_length"):
        model.generate(ids, attention_mask=mask, decoder_input_ids=prompt, max_length=3)


@pytest.mark.parametrize("num_beams,steps", [(3, 5)])
def test_beam_search_with_encoder_padding_matches_uncached_loop(model, num_beams, steps):
    """Rows with encoder padding; the cross-attention cache is written once and never gathered:
    the same beams and scores as a loop of full uncached forward passes."""
    ids, mask = encoder_inputs()
    expected, scores = beam_loop(model, ids, mask, num_beams, steps)
    out = model.generate(ids, attention_mask=mask, max_new_tokens=steps, num_beams=num_beams,
                         num_return_sequences=num_beams, length_penalty=0.0, return_dict_in_generate=True,
                         output_scores=True)
    assert type(out).__name__ == "GenerateBeamEncoderDecoderOutput"
    np.testing.assert_array_equal(to_np(out.sequences), expected)
    np.testing.assert_allclose(to_np(out.sequences_scores), scores, atol=1e-4)


def test_encoder_runs_once_per_input():
    """Beam search and num_return_sequences encode B rows, not B * beams."""
    fresh = KitEncoderDecoder(config()).build_weights()
    seen = []
    encode = fresh.encode

    def counting_encode(input_ids, attention_mask=None):
        seen.append(tuple(input_ids.shape))
        return encode(input_ids, attention_mask=attention_mask)

    object.__setattr__(fresh, "encode", counting_encode)
    ids, mask = encoder_inputs()
    fresh.generate(ids, attention_mask=mask, max_new_tokens=3, num_beams=4)
    fresh.generate(ids, attention_mask=mask, max_new_tokens=3, do_sample=True, num_return_sequences=2)
    assert seen and set(seen) == {ids.shape}, seen


def test_outputs_and_bad_input(model):
    ids, mask = encoder_inputs()
    out = model.generate(ids, attention_mask=mask, max_new_tokens=3, return_dict_in_generate=True)
    assert type(out).__name__ == "GenerateEncoderDecoderOutput" and (to_np(out.sequences)[:, 0] == START).all()
    with pytest.raises(ValueError, match="input_ids .*or encoder_outputs"):
        model.generate(max_new_tokens=3)
    with pytest.raises(ValueError, match="rows"):
        model.generate(ids, attention_mask=mask, decoder_input_ids=np.array([[5]]), max_new_tokens=3)
    with pytest.raises(ValueError, match="encoder_outputs"):
        model.generate(ids[:, :4], encoder_outputs=BaseModelOutput(last_hidden_state=np.zeros((3, 7, 32), "float32")))


# ---- forced tokens on a decoder-only model, against HF's generate --------------------------------
@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                     initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(path)
    return hf, keras_tfm.AutoModelForCausalLM.from_pretrained(path)


@pytest.mark.parametrize("settings", [
    dict(forced_bos_token_id=7, forced_eos_token_id=2, max_length=9),
    dict(forced_bos_token_id=7, forced_eos_token_id=[2, 3], max_length=9),  # greedy: the lower id on a tie
    dict(forced_bos_token_id=7, forced_eos_token_id=2, max_length=9, num_beams=3, length_penalty=2.0,
         early_stopping=True, no_repeat_ngram_size=2),
])
def test_forced_tokens_match_hf_generate(gpt2, settings):
    hf, ours = gpt2
    ids = np.array([[5], [9]])
    got = assert_generate_matches(ours, hf, ids, np.ones_like(ids), do_sample=False, **settings)
    assert (got[:, 1] == 7).all()


def test_encoder_states_in_the_output_when_asked(model):
    ids, mask = encoder_inputs()
    out = model.generate(ids, attention_mask=mask, max_new_tokens=2, num_beams=2, return_dict_in_generate=True,
                         output_hidden_states=True)
    expected = model.get_encoder()(ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert len(out.encoder_hidden_states) == len(expected) == 3  # embeddings and two layers
    np.testing.assert_allclose(to_np(out.encoder_hidden_states[-1]), to_np(expected[-1]), atol=1e-6)
    assert out.encoder_attentions is None


# ---- tiny random HF encoder-decoders: token-identical generation ----------------------------------
HF_SEQ2SEQ = {
    "t5": ("T5ForConditionalGeneration", "t5", lambda: transformers.T5Config(
        vocab_size=99, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=20, dropout_rate=0.0, initializer_factor=4.0, decoder_start_token_id=0)),
    "t5-v1.1": ("T5ForConditionalGeneration", "t5", lambda: transformers.T5Config(
        vocab_size=99, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=1, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, initializer_factor=4.0,
        decoder_start_token_id=0)),
    "bart": ("BartForConditionalGeneration", "bart", lambda: transformers.BartConfig(
        vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, init_std=0.3, forced_eos_token_id=None)),
}


@pytest.fixture(scope="module", params=sorted(HF_SEQ2SEQ))
def seq2seq(request, tmp_path_factory):
    hf_class, package, make_config = HF_SEQ2SEQ[request.param]
    pytest.importorskip(f"keras_tfm.models.{package}")
    path = tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    hf = getattr(transformers, hf_class)(make_config()).eval()
    hf.save_pretrained(path)
    return hf, keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(path)


def source(hf, padded):
    """Encoder inputs (3, 9), eos last; ``padded``: rows right-padded to different lengths."""
    config = hf.config
    rng = np.random.RandomState(0)
    ids = rng.randint(3, config.vocab_size, (3, 9))
    mask = np.ones_like(ids)
    if padded:
        mask[1, 6:], mask[2, 4:] = 0, 0
    ids[np.arange(3), mask.sum(1) - 1] = config.eos_token_id
    ids[mask == 0] = config.pad_token_id
    return ids, mask


def hf_seq2seq_generate(hf, ids, mask, **kwargs):
    with torch.no_grad():
        return hf.generate(torch.tensor(ids), attention_mask=torch.tensor(mask), **kwargs).numpy()


SUMMARIZATION = dict(max_new_tokens=32, num_beams=4, num_return_sequences=2, length_penalty=2.0, early_stopping=True,
                     no_repeat_ngram_size=3, min_length=12, forced_bos_token_id=5, forced_eos_token_id=7)
NEVER = dict(max_length=20, num_beams=3, early_stopping="never", encoder_no_repeat_ngram_size=2,
             repetition_penalty=1.3)


# plain greedy and 4-beam search for 32 tokens, padded or not: tests/test_bart.py and tests/test_t5.py
@pytest.mark.parametrize("settings,padded", [(SUMMARIZATION, False), (SUMMARIZATION, True), (NEVER, True)],
                         ids=["summarization", "summarization-padded", "beam-never-padded"])
def test_generate_matches_hf(seq2seq, settings, padded):
    """BART's summarization settings (n-gram ban, length penalty, forced tokens, minimum length)
    and early_stopping='never' with the encoder n-gram ban and a repetition penalty."""
    hf, ours = seq2seq
    ids, mask = source(hf, padded)
    scored = dict(do_sample=False, output_scores=True, return_dict_in_generate=True, **settings)
    with torch.no_grad():
        theirs = hf.generate(torch.tensor(ids), attention_mask=torch.tensor(mask), **scored)
    mine = ours.generate(ids, attention_mask=mask, **scored)
    assert to_np(mine.sequences).shape == tuple(theirs.sequences.shape)
    assert_same_beams(to_np(mine.sequences), to_np(mine.sequences_scores), theirs.sequences.numpy(),
                      theirs.sequences_scores.numpy())


def assert_same_beams(mine, my_scores, theirs, their_scores, tie=1e-4):
    """HF's sequences, token for token; a row may differ only where its length-penalised score equals HF's
    within ``tie`` (two hypotheses of different lengths tied to float precision: on TensorFlow, logits
    1e-6 away from torch's made the length-penalised scores -0.097223 and -0.097217 swap places)."""
    np.testing.assert_allclose(my_scores, their_scores, atol=tie)
    differing = np.flatnonzero((mine != theirs).any(axis=1))
    assert len(differing) <= 2, f"rows {differing} differ from HF's"


def test_encoder_outputs_and_decoder_prompt_match_hf(seq2seq):
    hf, ours = seq2seq
    ids, mask = source(hf, True)
    with torch.no_grad():
        states = hf.get_encoder()(torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state.numpy()
    for kwargs in (dict(num_beams=1), dict(num_beams=4)):
        with torch.no_grad():
            theirs = hf.generate(encoder_outputs=transformers.modeling_outputs.BaseModelOutput(
                last_hidden_state=torch.tensor(states)), attention_mask=torch.tensor(mask), max_new_tokens=12,
                **kwargs).numpy()
        mine = ours.generate(encoder_outputs=BaseModelOutput(last_hidden_state=states), attention_mask=mask,
                             max_new_tokens=12, **kwargs)
        np.testing.assert_array_equal(to_np(mine), theirs)
    prompt = np.array([[11, 12], [13, 14], [15, 16]])
    theirs = hf_seq2seq_generate(hf, ids, mask, decoder_input_ids=torch.tensor(prompt), max_length=14)
    np.testing.assert_array_equal(to_np(ours.generate(ids, attention_mask=mask, decoder_input_ids=prompt,
                                                      max_length=14)), theirs)


def test_top_k_is_the_stable_sort():
    from keras_tfm.generation.search import top_k

    rng = np.random.RandomState(0)
    x = rng.choice([-np.inf, -1e9, -2.5, 0.0, 1.0, 3.0], (6, 40)).astype("float32")
    x[3] = -np.inf
    x[4, 7] = 0.0
    for k in (1, 5, 8, 40):
        np.testing.assert_array_equal(top_k(x, k), np.argsort(-x, axis=1, kind="stable")[:, :k])
    y = rng.randn(3, 1000).astype("float32")
    np.testing.assert_array_equal(top_k(y, 8), np.argsort(-y, axis=1, kind="stable")[:, :8])
