"""VisionEncoderDecoderModel (ViT + GPT-2 with cross-attention) against transformers 5.

- GPT-2 with ``add_cross_attention`` alone: logits with an encoder mask, and without encoder states.
- The composite: logits and loss (labels with -100) HF -> ours; ours -> HF: a model we trained,
  saved and loaded by HF.
- ``generate(pixel_values)``: greedy (20 tokens) and beam search (3 beams) token-identical to HF's.
- ``from_encoder_decoder_pretrained`` from a ViT and a GPT-2 checkpoint, then loaded by HF.
- Training on the model's own loss: ``fit`` and ``Seq2SeqTrainer`` lower it; ``predict_with_generate``.

The encoder (24 wide) and decoder (32 wide) differ, so ``enc_to_dec_proj`` is exercised; a large
``initializer_range`` gives peaked, varied logits, so that float rounding cannot flip a token.
"""

import keras
import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm import Seq2SeqTrainer, Seq2SeqTrainingArguments
from tests.generation_tester import save_hf
from tests.model_tester import ATOL, to_np

VOCAB, IMAGE = 99, 16


def vit_config(hidden_size=24):
    return transformers.ViTConfig(hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=37, image_size=IMAGE, patch_size=8, initializer_range=0.3)


def gpt2_config(**kwargs):
    return transformers.GPT2Config(vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                   initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2, **kwargs)


def ved_config(encoder_size=24):
    return transformers.VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        vit_config(encoder_size), gpt2_config(), decoder_start_token_id=0, pad_token_id=1, eos_token_id=2)


def images(batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 3, IMAGE, IMAGE)).astype("float32")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """HF's random captioner and ours loaded from its save."""
    folder = tmp_path_factory.mktemp("ved")
    hf = save_hf("VisionEncoderDecoderModel", ved_config(), folder)
    return hf, keras_tfm.AutoModelForVision2Seq.from_pretrained(folder)


def hf_logits(hf, pixel_values, **kwargs):
    with torch.no_grad():
        return hf(pixel_values=torch.tensor(pixel_values), **{k: torch.tensor(v) for k, v in kwargs.items()})


def test_gpt2_with_cross_attention_matches_hf(tmp_path):
    hf = save_hf("GPT2LMHeadModel", gpt2_config(add_cross_attention=True), tmp_path)
    ours = keras_tfm.AutoModelForCausalLM.from_pretrained(tmp_path)
    rng = np.random.default_rng(1)
    ids, states = rng.integers(3, VOCAB, (2, 7)), rng.normal(size=(2, 5, 32)).astype("float32")
    encoder_mask = np.ones((2, 5), "int64")
    encoder_mask[1, 3:] = 0
    with torch.no_grad():
        theirs = hf(torch.tensor(ids), encoder_hidden_states=torch.tensor(states),
                    encoder_attention_mask=torch.tensor(encoder_mask)).logits.numpy()
        plain = hf(torch.tensor(ids)).logits.numpy()  # no encoder states: the blocks skip cross-attention
    out = ours(ids, encoder_hidden_states=states, encoder_attention_mask=encoder_mask)
    assert np.abs(to_np(out.logits) - theirs).max() <= ATOL
    assert np.abs(to_np(ours(ids).logits) - plain).max() <= ATOL
    kernel = ours.backbone.decoder.layers[0].cross_attention.kv_proj.kernel  # Conv1D's (in, out): unchanged
    np.testing.assert_array_equal(to_np(kernel), hf.transformer.h[0].crossattention.c_attn.weight.detach().numpy())
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        keras_tfm.GPT2LMHeadModel(keras_tfm.GPT2Config(**gpt2_config().to_dict()))(ids, encoder_hidden_states=states)


def test_logits_and_loss_match_hf(pair):
    hf, ours = pair
    pixels = images()
    labels = np.random.default_rng(2).integers(3, VOCAB, (2, 6))
    labels[1, 4:] = -100
    theirs = hf_logits(hf, pixels, labels=labels)
    out = ours(pixel_values=pixels, labels=labels)
    assert isinstance(out, keras_tfm.modeling_outputs.Seq2SeqLMOutput)
    assert np.abs(to_np(out.logits) - theirs.logits.numpy()).max() <= ATOL
    assert abs(float(to_np(out.loss)) - theirs.loss.item()) <= ATOL
    np.testing.assert_allclose(to_np(out.encoder_last_hidden_state), theirs.encoder_last_hidden_state.numpy(),
                               atol=ATOL)
    assert ours.enc_to_dec_proj is not None and ours.main_input_name == "pixel_values"


def test_generate_matches_hf(pair):
    hf, ours = pair
    pixels = images(seed=3)
    for kwargs in ({}, {"num_beams": 3}):
        with torch.no_grad():
            theirs = hf.generate(torch.tensor(pixels), max_new_tokens=20, do_sample=False, **kwargs).numpy()
        mine = to_np(ours.generate(pixels, max_new_tokens=20, **kwargs))
        np.testing.assert_array_equal(mine, theirs)
    assert len(set(theirs[0].tolist())) > 3  # varied tokens, not one repeated


def test_from_encoder_decoder_pretrained(tmp_path):
    vit = save_hf("ViTModel", vit_config(32), tmp_path / "vit")
    gpt2 = save_hf("GPT2LMHeadModel", gpt2_config(), tmp_path / "gpt2")
    ours = keras_tfm.VisionEncoderDecoderModel.from_encoder_decoder_pretrained(
        tmp_path / "vit", tmp_path / "gpt2", decoder_start_token_id=0, pad_token_id=1)
    assert ours.enc_to_dec_proj is None  # equal widths
    assert ours.config.decoder.add_cross_attention and ours.config.decoder.is_decoder
    np.testing.assert_array_equal(to_np(ours.encoder.embeddings.cls_token),
                                  vit.embeddings.cls_token.detach().numpy())
    np.testing.assert_array_equal(to_np(ours.decoder.backbone.wte.embeddings),
                                  gpt2.transformer.wte.weight.detach().numpy())
    ours.save_pretrained(tmp_path / "ved")
    hf = transformers.VisionEncoderDecoderModel.from_pretrained(tmp_path / "ved").eval()
    pixels, ids = images(seed=5), np.random.default_rng(5).integers(3, VOCAB, (2, 6))
    theirs = hf_logits(hf, pixels, decoder_input_ids=ids).logits.numpy()
    assert np.abs(to_np(ours(pixel_values=pixels, decoder_input_ids=ids).logits) - theirs).max() <= ATOL


def test_bad_input(pair):
    _, ours = pair
    with pytest.raises(ValueError, match="pixel_values"):
        ours(decoder_input_ids=np.array([[0, 5]]))
    with pytest.raises(ValueError, match="VisionEncoderDecoderConfig"):
        keras_tfm.VisionEncoderDecoderModel(keras_tfm.GPT2Config())
    with pytest.raises(ValueError, match="model_type 'nope'"):
        keras_tfm.VisionEncoderDecoderConfig(encoder={"model_type": "nope"})


# ---- training on the model's own loss --------------------------------------------------------------------------
def captions(n, seed):
    """Images of one of four colours (plus noise), each with its own three-token caption and eos."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 4, n)
    colours = np.eye(4, 3, dtype="float32")[kinds] * 2 - 1  # (n, 3)
    pixels = colours[:, :, None, None] + 0.3 * rng.normal(size=(n, 3, IMAGE, IMAGE)).astype("float32")
    labels = np.stack([kinds + 3, kinds + 10, kinds + 20, np.full(n, 2)], axis=1)
    return pixels.astype("float32"), labels


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A model to train (a small initializer_range: a trainable start) and its initial weights."""
    folder = tmp_path_factory.mktemp("ved_train")
    config = ved_config()
    config.decoder.initializer_range = config.encoder.initializer_range = 0.02
    save_hf("VisionEncoderDecoderModel", config, folder, seed=1)
    model = keras_tfm.VisionEncoderDecoderModel.from_pretrained(folder)
    return model, model.state_dict_hf()


def test_fit_lowers_the_loss_and_hf_loads_the_result(fresh, tmp_path):
    model, initial = fresh
    model.load_state_dict_hf(initial)
    pixels, labels = captions(32, seed=6)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit({"pixel_values": pixels}, labels, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0], history
    # ours -> HF: trained weights, which HF never made, saved in HF's layout
    model.save_pretrained(tmp_path)
    hf = transformers.VisionEncoderDecoderModel.from_pretrained(tmp_path).eval()
    ids = np.random.default_rng(4).integers(3, VOCAB, (2, 6))
    theirs = hf_logits(hf, pixels[:2], decoder_input_ids=ids).logits.numpy()
    assert np.abs(to_np(model(pixel_values=pixels[:2], decoder_input_ids=ids).logits) - theirs).max() <= ATOL


def test_seq2seq_trainer_lowers_the_loss(fresh, tmp_path):
    model, initial = fresh
    model.load_state_dict_hf(initial)
    pixels, labels = captions(32, seed=7)
    rows = [{"pixel_values": p, "labels": l} for p, l in zip(pixels, labels)]
    args = Seq2SeqTrainingArguments(str(tmp_path / "out"), learning_rate=1e-2, per_device_train_batch_size=8,
                                    per_device_eval_batch_size=4, num_train_epochs=3, save_strategy="no",
                                    disable_tqdm=True, logging_steps=1, report_to=[], predict_with_generate=True,
                                    generation_max_length=5)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=rows)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < 0.7 * losses[0], losses
    prediction = trainer.predict(rows[:4])  # captions generated from pixel_values
    expected = to_np(model.generate(pixels[:4], max_length=5))
    np.testing.assert_array_equal(prediction.predictions[:, :expected.shape[1]], expected)
