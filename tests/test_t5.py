"""T5 (v1.0 and v1.1 / Flan-T5 config styles) and mT5 against Hugging Face transformers (PyTorch).

Tiny random HF models are built here, saved, and loaded by keras_tfm: logits and the encoder /
decoder hidden states with padding in the encoder input, the base and encoder-only models,
save -> HF load, greedy and 4-beam generation for 32 tokens, and the loss from labels.

Styles: "v1.0" (ReLU, head tied to the embeddings and fed the decoder output times
d_model ** -0.5), "v1.1" (gated-GELU, a head of its own, no scaling, heads * d_kv != d_model:
the config.json hub checkpoints carry, ``tie_word_embeddings: false``), "hf5" (what
transformers 5 writes for a v1.1 config: a tied head without the scaling) and "hf5-own-head"
(a v1.1 model with its own head saved by transformers 5: the config says tied, the
checkpoint holds an ``lm_head.weight`` of its own, which transformers 5 then unties).
"""

import json

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from tests.generation_tester import hf_generate
from tests.model_tester import ATOL, to_np

STYLES = ("v1.0", "v1.1", "hf5", "hf5-own-head")
TIED = ("v1.0", "hf5")
COMMON = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
              relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
              decoder_start_token_id=0)


def hf_config(style, **kwargs):
    extra = {} if style == "v1.0" else {"feed_forward_proj": "gated-gelu", "d_kv": 6, "tie_word_embeddings": False}
    return transformers.T5Config(**{**COMMON, **extra, **kwargs})


def save_hf_t5(style, path, cls="T5ForConditionalGeneration", seed=0, **kwargs):
    """A random HF ``cls`` in ``style`` saved at ``path``; the HF model as read back from there."""
    torch.manual_seed(seed)
    config = hf_config(style, **kwargs)
    model = getattr(transformers, cls)(config).eval()
    if style in ("v1.1", "hf5-own-head") and hasattr(model, "lm_head"):
        model.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.d_model))
    model.save_pretrained(path)
    if style == "v1.1":  # as hub v1.1 checkpoints say it (transformers 5 writes `true` and scale_decoder_outputs)
        file = path / "config.json"
        saved = json.loads(file.read_text())
        saved.pop("scale_decoder_outputs", None)
        file.write_text(json.dumps({**saved, "tie_word_embeddings": False}))
    return getattr(transformers, cls).from_pretrained(path).eval()


def encoder_inputs(batch=3, length=9, seed=0):
    """Token ids with padding (id 0, mask 0) at the end of rows 1 and 2, and decoder ids from the start token."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(2, 99, (batch, length))
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    decoder_ids = rng.randint(2, 99, (batch, 7))
    decoder_ids[:, 0] = 0
    return ids, mask, decoder_ids


def hf_forward(hf, **inputs):
    with torch.no_grad():
        return hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True)


def max_diff(ours, theirs):
    return float(np.abs(to_np(ours) - theirs.numpy()).max())


@pytest.mark.parametrize("style", STYLES)
def test_logits_and_hidden_states_match_hf(style, tmp_path):
    # a decoder deeper than the encoder: the stacks are sized apart
    hf = save_hf_t5(style, tmp_path, num_decoder_layers=3)
    model, info = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path, output_loading_info=True)
    assert type(model) is keras_tfm.T5ForConditionalGeneration
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert (model.lm_head is None) == (style in TIED)
    ids, mask, decoder_ids = encoder_inputs()
    theirs = hf_forward(hf, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    ours = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_hidden_states=True)
    assert max_diff(ours.logits, theirs.logits) <= ATOL
    assert max_diff(ours.encoder_last_hidden_state, theirs.encoder_last_hidden_state) <= ATOL
    for name in ("encoder_hidden_states", "decoder_hidden_states"):
        assert len(ours[name]) == len(theirs[name])
        for a, b in zip(ours[name], theirs[name]):
            assert max_diff(a, b) <= ATOL, name


def test_attentions_match_hf(tmp_path):
    torch.manual_seed(0)
    config = hf_config("v1.0")
    config._attn_implementation = "eager"
    hf = transformers.T5ForConditionalGeneration(config).eval()
    hf.save_pretrained(tmp_path)
    model = keras_tfm.T5ForConditionalGeneration.from_pretrained(tmp_path)
    ids, mask, decoder_ids = encoder_inputs()
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    decoder_input_ids=torch.tensor(decoder_ids), output_attentions=True)
    ours = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_attentions=True)
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
        assert len(ours[name]) == len(theirs[name]) == 2
        for a, b in zip(ours[name], theirs[name]):
            assert max_diff(a, b) <= ATOL, name


def test_base_model_matches_hf(tmp_path):
    hf = save_hf_t5("v1.1", tmp_path, cls="T5Model")
    model = keras_tfm.AutoModel.from_pretrained(tmp_path)
    assert type(model) is keras_tfm.T5Model
    ids, mask, decoder_ids = encoder_inputs()
    theirs = hf_forward(hf, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    ours = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids, output_hidden_states=True)
    assert max_diff(ours.last_hidden_state, theirs.last_hidden_state) <= ATOL
    assert max_diff(ours.encoder_last_hidden_state, theirs.encoder_last_hidden_state) <= ATOL
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(input_ids=ids, attention_mask=mask)


def test_encoder_model_matches_hf_and_reads_a_full_checkpoint(tmp_path):
    hf = save_hf_t5("v1.1", tmp_path / "enc", cls="T5EncoderModel")
    model = keras_tfm.AutoModelForTextEncoding.from_pretrained(tmp_path / "enc")
    assert type(model) is keras_tfm.T5EncoderModel
    ids, mask, _ = encoder_inputs()
    theirs = hf_forward(hf, input_ids=ids, attention_mask=mask)
    ours = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert max_diff(ours.last_hidden_state, theirs.last_hidden_state) <= ATOL
    for a, b in zip(ours.hidden_states, theirs.hidden_states):
        assert max_diff(a, b) <= ATOL
    # A full checkpoint: its decoder and head are known and skipped, the encoder is the same.
    full = save_hf_t5("v1.1", tmp_path / "full")
    encoder, info = keras_tfm.T5EncoderModel.from_pretrained(tmp_path / "full", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    with torch.no_grad():
        want = full.encoder(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state
    assert max_diff(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, want) <= ATOL


@pytest.mark.parametrize("style", STYLES)
def test_save_then_hf_loads(style, tmp_path):
    save_hf_t5(style, tmp_path / "hf", seed=1)
    model = keras_tfm.T5ForConditionalGeneration.from_pretrained(tmp_path / "hf")
    model.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["model_type"] == "t5" and saved["tie_word_embeddings"] == (style in TIED)
    hf, info = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids, mask, decoder_ids = encoder_inputs()
    theirs = hf_forward(hf.eval(), input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    ours = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    assert max_diff(ours.logits, theirs.logits) <= ATOL


def test_from_config_save_then_hf_loads_gated_names(tmp_path):
    """A v1.1 model made here saves its feed-forward as wi_0 / wi_1 / wo, which HF reads."""
    config = keras_tfm.T5Config(**{**COMMON, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False})
    model = keras_tfm.T5ForConditionalGeneration.from_config(config)
    names = set(model.state_dict_hf())
    assert {"encoder.block.0.layer.1.DenseReluDense.wi_0.weight", "decoder.block.1.layer.2.DenseReluDense.wi_1.weight",
            "lm_head.weight", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"} <= names
    assert not any(".wi.weight" in n for n in names) and not any("block.1.layer.0.SelfAttention.relative" in n
                                                                  for n in names)
    model.save_pretrained(tmp_path)
    hf, info = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids, mask, decoder_ids = encoder_inputs()
    theirs = hf_forward(hf.eval(), input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    assert max_diff(model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits,
                    theirs.logits) <= ATOL


@pytest.mark.parametrize("style", ["v1.0", "v1.1"])
def test_greedy_and_beam_generation_match_hf(style, tmp_path):
    hf = save_hf_t5(style, tmp_path)
    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    ids, mask, _ = encoder_inputs()
    unpadded = np.random.RandomState(5).randint(2, 99, ids.shape)  # the same shapes: the compiled steps serve both
    for kwargs in (dict(do_sample=False, num_beams=1), dict(do_sample=False, num_beams=4)):
        for tokens, valid in ((unpadded, np.ones_like(mask)), (ids, mask)):
            theirs = hf_generate(hf, tokens, valid, max_new_tokens=32, decoder_start_token_id=0, **kwargs)
            mine = to_np(model.generate(tokens, attention_mask=valid, max_new_tokens=32, **kwargs))
            assert mine.shape == theirs.shape, (kwargs, mine.shape, theirs.shape)
            np.testing.assert_array_equal(mine, theirs, err_msg=str(kwargs))


@pytest.mark.parametrize("style", ["v1.0", "v1.1"])
def test_labels_give_hf_loss(style, tmp_path):
    hf = save_hf_t5(style, tmp_path)
    model = keras_tfm.T5ForConditionalGeneration.from_pretrained(tmp_path)
    ids, mask, _ = encoder_inputs()
    labels = np.random.RandomState(3).randint(2, 99, (3, 6))
    labels[1, 4:] = -100
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask), labels=torch.tensor(labels))
    ours = model(input_ids=ids, attention_mask=mask, labels=labels)
    assert abs(float(to_np(ours.loss)) - theirs.loss.item()) <= 1e-5 * max(1.0, theirs.loss.item())
    assert max_diff(ours.logits, theirs.logits) <= ATOL


def test_mt5_matches_hf(tmp_path):
    torch.manual_seed(0)
    config = transformers.MT5Config(**{**COMMON, "d_kv": 6})
    hf = transformers.MT5ForConditionalGeneration(config).eval()
    hf.lm_head.weight = torch.nn.Parameter(torch.randn(config.vocab_size, config.d_model))
    hf.save_pretrained(tmp_path)
    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert type(model) is keras_tfm.MT5ForConditionalGeneration and model.config.model_type == "mt5"
    hf = transformers.MT5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    ids, mask, decoder_ids = encoder_inputs()
    theirs = hf_forward(hf, input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    assert max_diff(model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits,
                    theirs.logits) <= ATOL


def test_config_names_defaults_and_bad_values():
    config = keras_tfm.T5Config(task_specific_params={"translation_en_to_de": {"prefix": "translate English to "
                                                                                         "German: "}})
    assert (config.decoder_start_token_id, config.pad_token_id, config.eos_token_id) == (0, 0, 1)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (512, 8, 6)
    assert config.num_decoder_layers == 6 and config.dense_act_fn == "relu" and not config.is_gated_act
    assert config.scale_decoder_outputs
    again = keras_tfm.T5Config.from_dict(config.to_dict())
    assert again.task_specific_params == config.task_specific_params and again == config
    flan = keras_tfm.T5Config(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    assert (flan.dense_act_fn, flan.is_gated_act, flan.scale_decoder_outputs) == ("gelu_new", True, False)
    assert keras_tfm.T5Config(feed_forward_proj="gated-silu").dense_act_fn == "silu"
    mt5 = keras_tfm.MT5Config()
    assert mt5.model_type == "mt5" and mt5.is_gated_act and not mt5.tie_word_embeddings
    with pytest.raises(ValueError, match="feed_forward_proj"):
        keras_tfm.T5Config(feed_forward_proj="relu-gated")


@pytest.mark.parametrize("style", ["v1.0", "v1.1"])
def test_dropout_in_training_only(style):
    """dropout_rate acts in training (embeddings, attention, feed-forward, residuals), not in inference."""
    gated = {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False} if style == "v1.1" else {}
    config = keras_tfm.T5Config(**{**COMMON, "dropout_rate": 0.5, **gated})
    model = keras_tfm.T5ForConditionalGeneration.from_config(config)
    ids, mask, decoder_ids = encoder_inputs()
    inputs = dict(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    first, second = (to_np(model(**inputs).logits) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    trained = to_np(model(**inputs, training=True).logits)
    assert np.isfinite(trained).all() and np.abs(trained - first).max() > 1e-3


def test_encoder_outputs_passed_in(tmp_path):
    """The encoder's outputs given (``get_encoder()``'s, as HF's generate passes them) give the same logits."""
    save_hf_t5("v1.0", tmp_path)
    model = keras_tfm.T5ForConditionalGeneration.from_pretrained(tmp_path)
    ids, mask, decoder_ids = encoder_inputs()
    encoded = model.get_encoder()(ids, attention_mask=mask)
    direct = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids)
    given = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder_ids)
    np.testing.assert_allclose(to_np(given.logits), to_np(direct.logits), atol=1e-6)
    np.testing.assert_allclose(to_np(given.encoder_last_hidden_state), to_np(encoded.last_hidden_state), atol=1e-6)


def test_random_initialisation_has_hfs_scales(tmp_path):
    """from_config draws every weight with HF's standard deviation (q over d_model * d_kv, wo over
    d_ff...): a T5 trained from scratch starts where HF's does."""
    from safetensors.numpy import load_file

    kwargs = dict(vocab_size=300, d_model=64, d_kv=16, d_ff=256, num_layers=1, num_heads=4,
                  feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    keras.utils.set_random_seed(0)
    keras_tfm.T5ForConditionalGeneration(keras_tfm.T5Config(**kwargs)).save_pretrained(tmp_path)
    ours = load_file(str(tmp_path / "model.safetensors"))
    torch.manual_seed(0)
    theirs = transformers.T5ForConditionalGeneration(transformers.T5Config(**kwargs)).state_dict()
    for name, weight in ours.items():
        expected = float(theirs[name].std())
        if expected == 0.0:  # layer norms start at one
            np.testing.assert_array_equal(weight, theirs[name].numpy(), err_msg=name)
        else:
            # a sample std of n values is off by about 1 / sqrt(2n) (0.06 for the 128 relative-position biases)
            tolerance = max(0.2, 5 / np.sqrt(2 * weight.size))
            assert abs(float(weight.std()) / expected - 1) < tolerance, (name, float(weight.std()), expected)
