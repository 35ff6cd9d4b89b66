"""BART and MBart against Hugging Face transformers (PyTorch) on tiny random models.

Both layer-norm variants: BART (post-norm, no final norms) and MBart (pre-norm, final norms,
scaled embeddings). Each head both ways (HF saves, we load; we save, HF loads): the main
output, the encoder and decoder hidden states (fp32 <= 1e-4), padding in the encoder input;
greedy and 4-beam generation token-identical for 32 new tokens, with and without padding;
the loss from labels.
"""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from tests.generation_tester import hf_generate
from tests.model_tester import ATOL, to_np

VOCAB = 99
COMMON = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
              decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=29, max_position_embeddings=64,
              init_std=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
              forced_eos_token_id=None)
VARIANTS = {
    "bart": ("Bart", dict(scale_embedding=False)),
    "mbart": ("MBart", dict(scale_embedding=True)),
}
HEADS = {
    "ForConditionalGeneration": "AutoModelForSeq2SeqLM",
    "Model": "AutoModel",
    "ForSequenceClassification": "AutoModelForSequenceClassification",
    "ForQuestionAnswering": "AutoModelForQuestionAnswering",
}


def hf_config(variant, **kwargs):
    prefix, extra = VARIANTS[variant]
    return getattr(transformers, f"{prefix}Config")(**{**COMMON, **extra, **kwargs})


def hf_model(variant, head, path=None, seed=0, **config_kwargs):
    """A tiny random HF model (``final_logits_bias`` made non-zero, so that it counts), saved at ``path``."""
    torch.manual_seed(seed)
    model = getattr(transformers, VARIANTS[variant][0] + head)(hf_config(variant, **config_kwargs)).eval()
    if hasattr(model, "final_logits_bias"):
        with torch.no_grad():
            model.final_logits_bias.normal_()
    if path is not None:
        model.save_pretrained(path)
    return model


def make_inputs(batch=3, length=9, seed=0, padded=True):
    """Encoder ids closed by one </s> per row (right padding after it when ``padded``) and decoder ids."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(3, VOCAB, (batch, length)).astype("int64")
    mask = np.ones_like(ids)
    if padded:
        mask[1, 6:] = 0
        mask[2, 3:] = 0
    ids[mask == 0] = 1
    ids[np.arange(batch), mask.sum(1) - 1] = 2
    decoder = rng.randint(3, VOCAB, (batch, 6)).astype("int64")
    decoder[:, 0] = 2
    return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": decoder}


def head_inputs(head, **kwargs):
    """The classification heads read the decoder over input_ids shifted right (HF pools the decoder
    states at the </s> positions of input_ids), so they get no decoder_input_ids."""
    inputs = make_inputs(**kwargs)
    if head in ("ForSequenceClassification", "ForQuestionAnswering"):
        del inputs["decoder_input_ids"]
    return inputs


def run_hf(model, inputs, **kwargs):
    with torch.no_grad():
        return model(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True, **kwargs)


def main_keys(head):
    return {"ForConditionalGeneration": ["logits"], "Model": ["last_hidden_state"],
            "ForSequenceClassification": ["logits"],
            "ForQuestionAnswering": ["start_logits", "end_logits"]}[head]


def assert_matches(ours, theirs, head):
    """The head's outputs and the encoder / decoder hidden states agree; returns the worst difference."""
    worst = 0.0
    for key in [*main_keys(head), "encoder_last_hidden_state", "encoder_hidden_states", "decoder_hidden_states"]:
        mine, hf = ours[key], theirs[key]
        pairs = list(zip(mine, hf)) if isinstance(hf, tuple) else [(mine, hf)]
        if isinstance(hf, tuple):
            assert len(mine) == len(hf), key
        for a, b in pairs:
            a, b = to_np(a), b.numpy()
            assert a.shape == b.shape, (key, a.shape, b.shape)
            worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= ATOL, f"{head}: max abs diff {worst}"
    return worst


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_hf_checkpoint_loads_and_matches(variant, head, tmp_path):
    hf = hf_model(variant, head, tmp_path)
    model = getattr(keras_tfm, HEADS[head]).from_pretrained(tmp_path)
    assert type(model).__name__ == VARIANTS[variant][0] + head
    inputs = head_inputs(head)
    assert_matches(model(**inputs, output_hidden_states=True), run_hf(hf, inputs), head)
    if head in ("Model", "ForConditionalGeneration"):
        # no decoder_input_ids: BART shifts input_ids right; MBart wraps each row's last token to the front
        no_decoder = {k: v for k, v in inputs.items() if k != "decoder_input_ids"}
        assert_matches(model(**no_decoder, output_hidden_states=True), run_hf(hf, no_decoder), head)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_saved_checkpoint_loads_in_hf(variant, head, tmp_path):
    config = keras_tfm.AutoConfig.for_model(**hf_config(variant).to_dict())
    model = getattr(keras_tfm, VARIANTS[variant][0] + head).from_config(config)
    if head == "ForConditionalGeneration":  # non-zero, so that a lost bias shows
        model.final_logits_bias.assign(np.random.RandomState(0).randn(1, VOCAB).astype("float32"))
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    hf, info = getattr(transformers, VARIANTS[variant][0] + head).from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    inputs = head_inputs(head)
    assert_matches(model(**inputs, output_hidden_states=True), run_hf(hf.eval(), inputs), head)


@pytest.mark.parametrize("tied", [True, False])
def test_tied_and_untied_lm_head(tied, tmp_path):
    hf = hf_model("bart", "ForConditionalGeneration", tmp_path / "hf", tie_word_embeddings=tied)
    model = keras_tfm.BartForConditionalGeneration.from_pretrained(tmp_path / "hf")
    assert (model.lm_head is None) == tied
    untied = {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}
    assert (untied & set(model.state_dict_hf())) == (set() if tied else untied)
    inputs = make_inputs()
    assert_matches(model(**inputs, output_hidden_states=True), run_hf(hf, inputs), "ForConditionalGeneration")
    model.save_pretrained(tmp_path / "ours")
    again = transformers.BartForConditionalGeneration.from_pretrained(tmp_path / "ours").eval()
    assert_matches(model(**inputs, output_hidden_states=True), run_hf(again, inputs), "ForConditionalGeneration")


def test_final_logits_bias_is_a_buffer_and_embeddings_are_shared():
    model = keras_tfm.BartForConditionalGeneration(keras_tfm.BartConfig(**COMMON)).build_weights()
    assert not model.final_logits_bias.trainable
    assert all("final_logits_bias" not in v.path for v in model.trainable_weights)
    names = set(model.state_dict_hf())
    assert "model.shared.weight" in names and "final_logits_bias" in names
    assert not any("embed_tokens" in n for n in names)  # the encoder's and decoder's are `shared`


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("num_beams", [1, 4])
def test_generate_matches_hf(variant, num_beams, tmp_path):
    hf = hf_model(variant, "ForConditionalGeneration", tmp_path)
    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    settings = dict(max_new_tokens=32, min_length=0, num_beams=num_beams, do_sample=False, length_penalty=1.0,
                    early_stopping=False, no_repeat_ngram_size=0)
    for padded in (True, False):
        inputs = make_inputs(padded=padded, seed=3)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        theirs = hf_generate(hf, ids, mask, **settings, forced_bos_token_id=None, forced_eos_token_id=None)
        mine = to_np(model.generate(ids, attention_mask=mask, **settings))
        assert mine.shape == theirs.shape == (3, 33), (mine.shape, theirs.shape)
        np.testing.assert_array_equal(mine, theirs, err_msg=f"padded={padded}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_labels_give_hf_loss(variant, tmp_path):
    hf = hf_model(variant, "ForConditionalGeneration", tmp_path)
    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    inputs = make_inputs()
    labels = np.random.RandomState(5).randint(3, VOCAB, (3, 7)).astype("int64")
    labels[:, -1] = 2
    labels[1, 5:] = -100
    labels[2, 3:] = -100
    feed = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "labels": labels}
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in feed.items()})
    ours = model(**feed)
    assert abs(float(to_np(ours.loss)) - theirs.loss.item()) <= 1e-5
    assert np.abs(to_np(ours.logits) - theirs.logits.numpy()).max() <= ATOL


def test_head_losses_match_hf(tmp_path):
    rng = np.random.RandomState(1)
    cases = [("ForSequenceClassification", {"labels": rng.randint(0, 3, (3,))}),
             ("ForQuestionAnswering", {"start_positions": np.array([1, 4, 20]), "end_positions": np.array([3, 5, 2])})]
    for head, labels in cases:
        inputs = head_inputs(head)
        hf = hf_model("bart", head, tmp_path / head)
        model = getattr(keras_tfm, HEADS[head]).from_pretrained(tmp_path / head)
        with torch.no_grad():
            theirs = hf(**{k: torch.tensor(v) for k, v in {**inputs, **labels}.items()}).loss.item()
        assert abs(float(to_np(model(**inputs, **labels).loss)) - theirs) <= 1e-5, head


def test_sequence_classification_needs_equal_eos_counts(tmp_path):
    hf_model("bart", "ForSequenceClassification", tmp_path)
    model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    inputs = head_inputs("ForSequenceClassification")
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(**inputs, decoder_input_ids=np.full((3, 4), 2))
    inputs["input_ids"][0, 2] = 2  # row 0 now has two </s>
    with pytest.raises(ValueError, match="same number of <eos> tokens"):
        model(**inputs)
    inputs["input_ids"][inputs["input_ids"] == 2] = 5
    with pytest.raises(ValueError, match="at least one <eos> token"):
        model(**inputs)


def test_encoder_outputs_passed_in(tmp_path):
    hf_model("bart", "ForConditionalGeneration", tmp_path)
    model = keras_tfm.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    inputs = make_inputs()
    full = model(**inputs)
    encoded = model.get_encoder()(inputs["input_ids"], attention_mask=inputs["attention_mask"])
    again = model(encoder_outputs=encoded, attention_mask=inputs["attention_mask"],
                  decoder_input_ids=inputs["decoder_input_ids"])
    np.testing.assert_allclose(to_np(again.logits), to_np(full.logits), atol=1e-6)


def test_too_long_input_is_a_clear_error():
    model = keras_tfm.BartModel(keras_tfm.BartConfig(**COMMON)).build_weights()
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=np.full((1, 65), 5), decoder_input_ids=np.full((1, 2), 2))


def test_config_keeps_hf_names_and_generation_settings(tmp_path):
    # bart-large-cnn's config.json carries its summarization settings
    cnn = dict(max_length=142, min_length=56, num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0,
               early_stopping=True, force_bos_token_to_be_generated=True,
               task_specific_params={"summarization": {"max_length": 142}})
    config = keras_tfm.BartConfig(**COMMON, **cnn)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (32, 4, 2)
    assert config.forced_bos_token_id == 0 and config.forced_eos_token_id is None
    assert config.max_length == 142 and config.num_beams == 4 and config.task_specific_params["summarization"]
    config.save_pretrained(tmp_path)
    hf = transformers.BartConfig.from_pretrained(tmp_path)
    assert (hf.d_model, hf.decoder_layers, hf.scale_embedding) == (32, 3, False)
    again = keras_tfm.AutoConfig.from_pretrained(tmp_path)
    assert type(again) is keras_tfm.BartConfig and again.no_repeat_ngram_size == 3 and again.length_penalty == 2.0
    assert keras_tfm.BartConfig().num_labels == 3 and keras_tfm.MBartConfig().decoder_start_token_id is None
