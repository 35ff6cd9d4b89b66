"""Wav2Vec2: parity with HF transformers (PyTorch) for the base model, CTC and classification heads,
both feature-encoder norms and the stable-layer-norm variant, on padded batches; CTC loss as HF's
(and ``losses.ctc_loss`` as torch's); SpecAugment; save -> HF load."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.layers.spec_augment import compute_mask_indices
from keras_tfm.losses import ctc_loss
from tests.model_tester import ATOL, ModelTesterMixin, compare, to_np

SAMPLES, REAL = 800, 500  # 0.05 s of audio at 16 kHz: 79 frames; the padded row's 500 samples make 49


def tiny_wav2vec2_config(**overrides):
    return transformers.Wav2Vec2Config(**{
        "vocab_size": 12, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24,
        "conv_dim": (16, 16), "conv_kernel": (10, 3), "conv_stride": (5, 2), "num_conv_pos_embeddings": 4,
        "num_conv_pos_embedding_groups": 2, "classifier_proj_size": 8, "attn_implementation": "eager", **overrides})


def audio_inputs(batch=2, seed=0):
    """Right-padded audio: the last row holds ``REAL`` samples, the rest zeros (as the feature extractor pads)."""
    rng = np.random.RandomState(seed)
    values = rng.randn(batch, SAMPLES).astype("float32")
    mask = np.ones((batch, SAMPLES), "int64")
    mask[-1, REAL:] = 0
    values[mask == 0] = 0.0
    return {"input_values": values, "attention_mask": mask}


class TestWav2Vec2(ModelTesterMixin):
    """wav2vec2-base's shape: GroupNorm on the first conv, post-norm encoder layers."""

    hf_config = staticmethod(tiny_wav2vec2_config)
    heads = {
        "base": ("Wav2Vec2Model", "Wav2Vec2Model", "AutoModel"),
        "ctc": ("Wav2Vec2ForCTC", "Wav2Vec2ForCTC", "AutoModelForCTC"),
        "classifier": ("Wav2Vec2ForSequenceClassification", "Wav2Vec2ForSequenceClassification",
                       "AutoModelForAudioClassification"),
    }

    def model_inputs(self, config):
        return audio_inputs()

    def test_attentions_and_return_dict(self, tmp_path):
        hf, path = self.hf_model("Wav2Vec2ForCTC", tmp_path)
        inputs = audio_inputs()
        with torch.no_grad():
            theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_attentions=True)
        model = keras_tfm.AutoModelForCTC.from_pretrained(path)
        ours = model(**inputs, output_attentions=True)
        assert len(ours.attentions) == len(theirs.attentions) == 2
        frames = 49  # the padded row's real frames: its probabilities there are HF's; padded query rows are arbitrary
        for a, b in zip(ours.attentions, theirs.attentions):
            a, b = to_np(a), b.numpy()
            np.testing.assert_allclose(a[0], b[0], atol=ATOL)
            np.testing.assert_allclose(a[1, :, :frames], b[1, :, :frames], atol=ATOL)
        first = model(**inputs, output_attentions=True, return_dict=False)[0]
        np.testing.assert_array_equal(to_np(first), to_np(ours.logits))

    def test_losses_match_hf(self, tmp_path):
        rng = np.random.RandomState(1)
        inputs = audio_inputs()
        labels = rng.randint(1, 12, (2, 9))
        labels[0, 6:] = -100
        labels[1, 1] = labels[1, 0]  # a repeat needs a blank between
        long_label = rng.randint(1, 12, (2, 60))  # 60 tokens > the padded row's 49 frames: infinite
        long_label[0, 30:] = -100
        hf, ours = _hf_and_ours(tmp_path / "ctc", "Wav2Vec2ForCTC")
        for reduction, zero_infinity, case_labels in [("sum", False, labels), ("mean", False, labels),
                                                      ("sum", False, long_label), ("mean", True, long_label),
                                                      ("sum", True, long_label)]:
            for config in (hf.config, ours.config):  # both read these at every call
                config.ctc_loss_reduction, config.ctc_zero_infinity = reduction, zero_infinity
            theirs, mine = _losses(hf, ours, inputs, case_labels)
            assert np.isinf(theirs) == (case_labels is long_label and not zero_infinity)
            if np.isinf(theirs):
                assert np.isinf(mine), (reduction, zero_infinity, mine)
            else:
                assert abs(mine - theirs) <= 1e-4 * max(1.0, abs(theirs)), (reduction, zero_infinity, mine, theirs)
        hf, ours = _hf_and_ours(tmp_path / "cls", "Wav2Vec2ForSequenceClassification", num_labels=3)
        theirs, mine = _losses(hf, ours, inputs, np.array([2, 0]))
        assert abs(mine - theirs) <= self.LOSS_ATOL, (mine, theirs)

    def test_keras_tfm_saves_what_hf_loads_cleanly(self, tmp_path):
        config = keras_tfm.AutoConfig.for_model(**tiny_wav2vec2_config(num_labels=3).to_dict())
        for name in ("Wav2Vec2ForCTC", "Wav2Vec2ForSequenceClassification"):
            getattr(keras_tfm, name).from_config(config).save_pretrained(tmp_path / name)
            _, info = getattr(transformers, name).from_pretrained(tmp_path / name, output_loading_info=True)
            assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (name, info)


class TestWav2Vec2Stable(TestWav2Vec2):
    """wav2vec2-large-lv60's shape: LayerNorm after every conv (with biases), pre-norm layers and a
    final norm; an odd positional kernel (nothing dropped); the classifier over a weighted sum of the
    layers (its head is the one this variant tests: CTC's is the base variant's)."""

    hf_config = staticmethod(lambda **kw: tiny_wav2vec2_config(
        feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True, num_conv_pos_embeddings=5,
        use_weighted_layer_sum=True, **kw))
    heads = {"classifier": TestWav2Vec2.heads["classifier"]}  # the whole backbone and the weighted layer sum

    test_save_load_round_trip = test_keras_tfm_saves_what_hf_loads_cleanly = None
    test_attentions_and_return_dict = test_losses_match_hf = None


def _hf_and_ours(path, hf_class, **overrides):
    torch.manual_seed(0)
    hf = getattr(transformers, hf_class)(tiny_wav2vec2_config(**overrides)).eval()
    hf.save_pretrained(path)
    return hf, getattr(keras_tfm, hf_class).from_pretrained(path)


def _losses(hf, ours, inputs, labels):
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, labels=torch.tensor(labels)).loss.item()
    return theirs, float(to_np(ours(**inputs, labels=labels).loss))


def test_layer_norm_post_norm_variant_and_no_mask_match_hf(tmp_path):
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2ForCTC(tiny_wav2vec2_config(feat_extract_norm="layer")).eval()
    hf.save_pretrained(tmp_path)
    values = audio_inputs()["input_values"]
    with torch.no_grad():
        theirs = hf(torch.tensor(values), output_hidden_states=True)
    ours = keras_tfm.Wav2Vec2ForCTC.from_pretrained(tmp_path)(values, output_hidden_states=True)
    assert compare(ours, theirs, ["logits", "hidden_states"]) <= ATOL


def test_mask_time_indices_match_hf(tmp_path):
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2Model(tiny_wav2vec2_config()).eval()
    hf.save_pretrained(tmp_path)
    inputs = audio_inputs()
    masked = np.random.RandomState(2).rand(2, 79) < 0.3
    with torch.no_grad():
        theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, mask_time_indices=torch.tensor(masked))
    ours = keras_tfm.Wav2Vec2Model.from_pretrained(tmp_path)(**inputs, mask_time_indices=masked)
    assert compare(ours, theirs, ["last_hidden_state", "extract_features"]) <= ATOL


def test_old_weight_norm_names_load(tmp_path):
    """Checkpoints written before torch's parametrizations name the positional conv weight_g / weight_v."""
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2ForCTC(tiny_wav2vec2_config()).eval()
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    old = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1",
                                                                            "weight_v"): v for k, v in state.items()}
    assert any(k.endswith("weight_g") for k in old)
    model = keras_tfm.Wav2Vec2ForCTC(keras_tfm.Wav2Vec2Config(**tiny_wav2vec2_config().to_dict())).build_weights()
    report = model.load_state_dict_hf(old)
    assert not report["missing_keys"] and not report["unexpected_keys"], report
    values = audio_inputs()["input_values"]
    with torch.no_grad():
        theirs = hf(torch.tensor(values)).logits.numpy()
    np.testing.assert_allclose(to_np(model(values).logits), theirs, atol=ATOL)
    assert set(model.state_dict_hf()) == set(state)  # written as transformers 5 writes them


def test_ctc_loss_matches_torch():
    rng = np.random.RandomState(0)
    batch, frames, classes = 4, 12, 6
    log_probs = torch.log_softmax(torch.tensor(rng.randn(batch, frames, classes).astype("float32")), -1)
    targets = np.array([[1, 2, 2, 3, 0, 0, 0], [4, 4, 4, 4, 4, 4, 5], [1, 5, 3, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0]])
    target_lengths = np.array([4, 7, 3, 0])
    input_lengths = np.array([12, 12, 2, 7])  # row 1 needs 7 + 5 repeats = 12 frames; row 2 needs 3 > 2: infinite
    # each backend compiles its CTC per call: a few calls cover both blanks, every reduction, zero_infinity
    for blank, reduction, zero_infinity in [(0, "none", False), (0, "sum", True), (0, "mean", False),
                                            (5, "none", True), (5, "mean", True)]:
        safe = np.where(targets == blank, (blank + 1) % classes, targets)
        theirs = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), torch.tensor(safe), torch.tensor(input_lengths), torch.tensor(target_lengths),
            blank=blank, reduction=reduction, zero_infinity=zero_infinity).numpy()
        ours = to_np(ctc_loss(log_probs.numpy(), safe, input_lengths, target_lengths, blank=blank, reduction=reduction,
                              zero_infinity=zero_infinity))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5,
                                   err_msg=f"blank={blank} {reduction} zero_infinity={zero_infinity}")


def test_compute_mask_indices_follows_hf_counts():
    import keras

    seed = keras.random.SeedGenerator(3)
    lengths = np.array([100, 60, 7])
    for _ in range(3):
        mask = to_np(compute_mask_indices((3, 100), 0.3, 5, lengths, min_masks=2, seed=seed))
        assert mask.shape == (3, 100) and mask.dtype == bool
        for row, length in zip(mask, lengths):
            assert not row[length:].any()  # spans stay in the real frames
            spans = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int)])) == 1)
            # int(0.3 * L / 5 + eps) spans, eps in [0, 1), at least min_masks, at most what fits: overlaps merge
            most = min(max(int(0.3 * length / 5) + 1, 2), length - 4)
            assert 1 <= len(spans) <= most and row.sum() <= 5 * most
        assert mask[2].sum() >= 5  # two spans of 5 asked, 3 starts free: at least one full span
    with pytest.raises(ValueError, match="mask_length"):
        compute_mask_indices((1, 4), 0.5, 5)


def test_spec_augment_and_layerdrop_in_training(tmp_path):
    config = keras_tfm.Wav2Vec2Config(**tiny_wav2vec2_config(mask_time_prob=0.5, mask_time_length=4,
                                                              mask_feature_prob=0.3, mask_feature_length=2,
                                                              layerdrop=0.5, hidden_dropout=0.0,
                                                              activation_dropout=0.0, attention_dropout=0.0,
                                                              final_dropout=0.0).to_dict())
    model = keras_tfm.Wav2Vec2ForCTC.from_config(config)
    inputs = audio_inputs()
    evaluated = to_np(model(**inputs).logits)
    np.testing.assert_array_equal(evaluated, to_np(model(**inputs).logits))  # no masking outside training
    trained = [to_np(model(**inputs, training=True).logits) for _ in range(2)]
    assert not np.allclose(trained[0], evaluated) and not np.allclose(trained[0], trained[1])
    model.freeze_feature_encoder()
    frozen = {id(v) for v in model.backbone.feature_extractor.weights}
    assert frozen and not frozen & {id(v) for v in model.trainable_weights}


def test_bad_inputs_name_the_problem():
    model = keras_tfm.Wav2Vec2ForCTC.from_config(keras_tfm.Wav2Vec2Config(**tiny_wav2vec2_config().to_dict()))
    with pytest.raises(ValueError, match="batch, samples"):
        model(np.zeros((1, 1, 800), "float32"))
    with pytest.raises(ValueError, match="vocab_size"):
        model(np.zeros((1, 800), "float32"), labels=np.array([[1, 12]]))
    with pytest.raises(ValueError, match="feat_extract_norm"):
        keras_tfm.Wav2Vec2Config(feat_extract_norm="batch")
