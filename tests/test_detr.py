"""DETR against Hugging Face transformers (PyTorch): tiny random models with a tiny ResNet backbone
(batch-norm statistics randomised), a batch with a padded image (``pixel_mask``)."""

import os

import numpy as np
import pytest
import torch
import transformers
from safetensors import safe_open

import keras_tfm
from keras_tfm.modeling_utils import named_variables
from tests.model_tester import ATOL, randomise_hf_batch_norms, to_np

HEADS = ["DetrModel", "DetrForObjectDetection", "DetrForSegmentation"]
SKIPPED = {"loss", "loss_dict", "auxiliary_outputs"}


def hf_config(**overrides):
    backbone = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage1", "stage2", "stage3", "stage4"])
    kwargs = dict(use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, d_model=32,
                  encoder_layers=2, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=48,
                  encoder_attention_heads=8, decoder_attention_heads=4, num_queries=5, num_labels=3)
    config = transformers.DetrConfig(**{**kwargs, **overrides})
    config._attn_implementation = "eager"  # the attention probabilities are compared too
    return config


def hf_model(name, path, **overrides):
    torch.manual_seed(0)
    model = getattr(transformers, name)(hf_config(**overrides)).eval()
    randomise_hf_batch_norms(model, seed=1)
    model.save_pretrained(path)
    return model


def inputs():
    rng = np.random.RandomState(0)
    pixel_values = rng.randn(2, 3, 64, 80).astype("float32")
    pixel_mask = np.ones((2, 64, 80), "int64")
    pixel_mask[1, 40:, :] = 0  # the second image is padded below and to the right
    pixel_mask[1, :, 56:] = 0
    return {"pixel_values": pixel_values, "pixel_mask": pixel_mask}


def run_hf(model, feed, **kwargs):
    with torch.no_grad():
        return model(**{k: torch.tensor(v) for k, v in feed.items()}, **kwargs)


def compare(ours, theirs):
    """Every field HF returns (tuples element by element); the worst difference."""
    worst = 0.0
    for key, value in theirs.items():
        if key in SKIPPED:
            continue
        assert key in ours, key
        pairs = list(zip(ours[key], value)) if isinstance(value, tuple) else [(ours[key], value)]
        if isinstance(value, tuple):
            assert len(ours[key]) == len(value), key
        for a, b in pairs:
            a, b = to_np(a), b.numpy()
            assert a.shape == b.shape, (key, a.shape, b.shape)
            worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= ATOL, f"max abs diff {worst} > {ATOL}"
    return worst


@pytest.mark.parametrize("name", HEADS)
def test_hf_to_keras_tfm(name, tmp_path):
    hf = hf_model(name, tmp_path)
    feed = inputs()
    theirs = run_hf(hf, feed, output_hidden_states=True, output_attentions=True)
    ours = getattr(keras_tfm, name).from_pretrained(tmp_path)(**feed, output_hidden_states=True,
                                                              output_attentions=True)
    compare(ours, theirs)


@pytest.mark.parametrize("auto, name", [("AutoModel", "DetrModel"),
                                        ("AutoModelForObjectDetection", "DetrForObjectDetection"),
                                        ("AutoModelForImageSegmentation", "DetrForSegmentation")])
def test_auto_classes(auto, name, tmp_path):
    hf_model(name, tmp_path)
    model, info = getattr(keras_tfm, auto).from_pretrained(tmp_path, output_loading_info=True)
    assert type(model).__name__ == name
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}


def test_learned_positions_and_auxiliary_states(tmp_path):
    """Learned position embeddings; with auxiliary_loss the decoder norms each layer's output."""
    hf = hf_model("DetrModel", tmp_path, position_embedding_type="learned", auxiliary_loss=True)
    feed = inputs()
    theirs = run_hf(hf, feed, output_hidden_states=True)
    assert theirs.intermediate_hidden_states is not None
    ours = keras_tfm.DetrModel.from_pretrained(tmp_path)(**feed, output_hidden_states=True)
    compare(ours, theirs)


def test_inputs_embeds_and_decoder_inputs(tmp_path):
    """Flattened features instead of pixels, queries given, a decoder attention mask."""
    hf = hf_model("DetrModel", tmp_path)
    rng = np.random.RandomState(2)
    feed = {"inputs_embeds": rng.randn(2, 9, 32).astype("float32"),
            "decoder_inputs_embeds": rng.randn(2, 5, 32).astype("float32"),
            "decoder_attention_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int64")}
    theirs = run_hf(hf, feed)
    ours = keras_tfm.DetrModel.from_pretrained(tmp_path)(**feed)
    compare(ours, theirs)


@pytest.mark.parametrize("name, positions", [("DetrForObjectDetection", "sine"), ("DetrForSegmentation", "learned")])
def test_keras_tfm_to_hf(name, positions, tmp_path):
    config = keras_tfm.AutoConfig.for_model(**hf_config(position_embedding_type=positions).to_dict())
    ours_model = getattr(keras_tfm, name).from_config(config)
    ours_model.save_pretrained(tmp_path)
    hf, info = getattr(transformers, name).from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    hf.eval()
    feed = inputs()
    compare(ours_model(**feed), run_hf(hf, feed))


def test_transformers_5_names_load(tmp_path):
    """The names of transformers 5's modules (``backbone.model.``, ``o_proj``, ``mlp.fc1``,
    ``mask_head.conv1.conv``...) load as well as the checkpoints' transformers 4 names."""
    hf = hf_model("DetrForSegmentation", tmp_path)
    state = {k: v.numpy() for k, v in hf.state_dict().items()}
    assert any(".backbone.model." in k for k in state) and any("mask_head.fpn_stages" in k for k in state)
    model = keras_tfm.DetrForSegmentation.from_pretrained(tmp_path)
    fresh = keras_tfm.DetrForSegmentation(model.config)
    info = fresh.load_state_dict_hf(state)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    feed = inputs()
    np.testing.assert_array_equal(to_np(fresh(**feed).pred_masks), to_np(model(**feed).pred_masks))


def test_trainable_parameters_as_hf(tmp_path):
    """HF trains neither the frozen batch norms nor the backbone's stem and first stage."""
    hf = hf_model("DetrForObjectDetection", tmp_path)
    model = keras_tfm.DetrForObjectDetection.from_pretrained(tmp_path)
    theirs = sum(p.numel() for p in hf.parameters() if p.requires_grad)
    ours = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert ours == theirs
    assert sum(int(np.prod(v.shape)) for v in model.weights) == sum(t.numel() for t in hf.state_dict().values())


def test_save_load_round_trip(tmp_path):
    config = keras_tfm.AutoConfig.for_model(**hf_config(position_embedding_type="learned").to_dict())
    model = keras_tfm.DetrForSegmentation.from_config(config)
    model.save_pretrained(tmp_path)
    again = keras_tfm.AutoModelForImageSegmentation.from_pretrained(tmp_path)
    feed = inputs()
    a, b = model(**feed), again(**feed)
    for key in a.keys():
        np.testing.assert_array_equal(to_np(a[key]), to_np(b[key]))


def test_bad_input(tmp_path):
    hf_model("DetrForObjectDetection", tmp_path)
    model = keras_tfm.DetrForObjectDetection.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="channels"):
        model(pixel_values=np.zeros((1, 4, 64, 64), "float32"))
    with pytest.raises(ValueError, match="pixel_values or inputs_embeds"):
        model()


def detection_labels(with_masks, seed=3):
    """Two images' targets (3 and 1 objects), normalized (cx, cy, w, h) boxes, masks at the input size."""
    rng = np.random.RandomState(seed)
    labels = []
    for n in (3, 1):
        boxes = np.concatenate([rng.uniform(0.2, 0.8, (n, 2)), rng.uniform(0.1, 0.3, (n, 2))], 1).astype("float32")
        target = {"class_labels": rng.randint(0, 3, (n,)), "boxes": boxes}
        if with_masks:
            target["masks"] = (rng.rand(n, 64, 80) > 0.5).astype("float32")
        labels.append(target)
    return labels


@pytest.mark.parametrize("name, auxiliary_loss", [("DetrForObjectDetection", True), ("DetrForSegmentation", False)])
def test_loss_matches_hf(name, auxiliary_loss, tmp_path):
    """DETR's Hungarian-matching loss through the model, against HF's for the same targets."""
    hf = hf_model(name, tmp_path, auxiliary_loss=auxiliary_loss)
    feed = inputs()
    labels = detection_labels(with_masks=name == "DetrForSegmentation")
    theirs = run_hf(hf, {**feed}, labels=[{k: torch.tensor(v) for k, v in t.items()} for t in labels])
    ours = getattr(keras_tfm, name).from_pretrained(tmp_path)(**feed, labels=labels)
    assert sorted(ours.loss_dict) == sorted(theirs.loss_dict)
    for key, value in theirs.loss_dict.items():
        np.testing.assert_allclose(float(to_np(ours.loss_dict[key])), float(value), atol=1e-4, err_msg=key)
    np.testing.assert_allclose(float(to_np(ours.loss)), float(theirs.loss), atol=1e-4)
    if auxiliary_loss:
        assert len(ours.auxiliary_outputs) == len(theirs.auxiliary_outputs) == 1
        for a, b in zip(ours.auxiliary_outputs, theirs.auxiliary_outputs):
            for key in ("logits", "pred_boxes"):
                np.testing.assert_allclose(to_np(a[key]), b[key].numpy(), atol=ATOL)


TIMM_FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "detr_timm")


def test_timm_backbone_checkpoint(tmp_path):
    """A DETR with a timm ResNet backbone (``use_timm_backbone=True``, as facebook/detr-resnet-50),
    written by transformers 4 + timm (tests/make_detr_timm_fixture.py): loads and matches; saved,
    it keeps timm's names and loads back."""
    ref = np.load(os.path.join(TIMM_FIXTURE, "reference.npz"))
    model, info = keras_tfm.AutoModelForObjectDetection.from_pretrained(TIMM_FIXTURE, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    feed = {"pixel_values": ref["pixel_values"], "pixel_mask": ref["pixel_mask"]}
    out = model(**feed)
    for key in ("logits", "pred_boxes", "last_hidden_state", "encoder_last_hidden_state"):
        np.testing.assert_allclose(to_np(out[key]), ref[key], atol=ATOL, err_msg=key)
    # HF (timm) trains layer2-4 of the backbone, not its stem and layer1
    trainable = {model.weight_map.hf_name(p) for p, v in named_variables(model).items() if v.trainable}
    backbone = {n for n in trainable if ".conv_encoder." in n}
    assert backbone and all(any(f".layer{i}." in n for i in (2, 3, 4)) for n in backbone)
    model.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "np") as f:
        assert "model.backbone.conv_encoder.model.layer1.0.conv1.weight" in f.keys()
    again = keras_tfm.DetrForObjectDetection.from_pretrained(tmp_path)
    np.testing.assert_array_equal(to_np(again(**feed).logits), to_np(out.logits))


def test_compiled_forward():
    """The compiled inference path (jax.jit / XLA / torch.jit.trace) gives the eager outputs."""
    from keras_tfm.inference import compiled_forward

    model = keras_tfm.DetrForSegmentation.from_config(keras_tfm.AutoConfig.for_model(**hf_config().to_dict()))
    feed = inputs()
    eager, forward = model(**feed), compiled_forward(model)
    for _ in range(2):  # torch traces at the second call of a shape
        compiled = forward(**feed)
    for key in eager.keys():
        np.testing.assert_allclose(to_np(compiled[key]), to_np(eager[key]), atol=ATOL, err_msg=key)


def test_fit_lowers_the_loss():
    """Keras fit on the model's own loss (the matching runs on the host inside the compiled step);
    the labels as a tuple of per-image dicts, the structure Keras' data adapters take on every backend."""
    import keras

    config = keras_tfm.AutoConfig.for_model(**hf_config(dropout=0.0).to_dict())
    model = keras_tfm.DetrForObjectDetection.from_config(config)
    feed = inputs()
    labels = tuple({"class_labels": t["class_labels"].astype("int32"), "boxes": t["boxes"]}
                   for t in detection_labels(with_masks=False))
    before = float(to_np(model(**feed, labels=labels).loss))

    def batches():
        while True:
            yield dict(feed), labels

    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(batches(), steps_per_epoch=8, epochs=1, verbose=0)
    after = float(to_np(model(**feed, labels=labels).loss))
    assert np.isfinite(after) and after < before - 0.05, (before, after)
