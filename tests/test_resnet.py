"""ResNet against HF transformers (PyTorch): base model, image classifier and backbone, both ways,
with batch-norm statistics randomised so that eval-mode batch norm is what gets compared."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.layers import FrozenBatchNorm, to_internal
from tests.model_tester import (
    ATOL,
    ModelTesterMixin,
    compare,
    num_labels_for,
    randomise_batch_norms,
    randomise_hf_batch_norms,
    to_np,
)


def tiny_resnet_config(**overrides):
    return transformers.ResNetConfig(**{"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 2],
                                        "layer_type": "bottleneck", **overrides})


def pixel_values(config, batch=2, size=32, seed=0):
    return np.random.RandomState(seed).randn(batch, config.num_channels, size, size).astype("float32")


class TestResNet(ModelTesterMixin):
    has_batch_norms = True
    hf_config = staticmethod(tiny_resnet_config)
    heads = {
        "base": ("ResNetModel", "ResNetModel", "AutoModel"),
        "image": ("ResNetForImageClassification", "ResNetForImageClassification", "AutoModelForImageClassification"),
    }

    def model_inputs(self, config):
        return {"pixel_values": pixel_values(config)}

    @staticmethod
    def loss_cases(hf_class_name, inputs, vocab_size, rng):
        return ModelTesterMixin.loss_cases(hf_class_name, inputs, vocab_size, rng) if "Image" in hf_class_name else []

    def test_keras_tfm_to_hf(self, tmp_path):
        for head, (hf_name, ours_name, _) in self._heads():
            hf_config = self.hf_config(num_labels=num_labels_for(hf_name))
            config = keras_tfm.AutoConfig.for_model(**hf_config.to_dict())
            ours_model = getattr(keras_tfm, ours_name).from_config(config)
            randomise_batch_norms(ours_model)
            ours_model.save_pretrained(tmp_path / head)
            hf, info = getattr(transformers, hf_name).from_pretrained(tmp_path / head, output_loading_info=True)
            assert not info["missing_keys"] and not info["unexpected_keys"], info  # step counters written too
            hf.eval()
            inputs = self.model_inputs(config)
            theirs = self.run_hf(hf, inputs)
            compare(ours_model(**inputs, output_hidden_states=True), theirs, list(theirs.keys()))

    def test_attentions_and_return_dict(self, tmp_path):
        """A conv net has no attentions; ``return_dict=False`` gives HF's tuple order."""
        hf, path = self.hf_model("ResNetModel", tmp_path)
        inputs = self.model_inputs(hf.config)
        model = keras_tfm.AutoModel.from_pretrained(path)
        last, pooled = model(**inputs, return_dict=False)
        with torch.no_grad():
            theirs = hf(torch.tensor(inputs["pixel_values"]), return_dict=False)
        for a, b in zip((last, pooled), theirs):
            np.testing.assert_allclose(to_np(a), b.numpy(), atol=ATOL)


@pytest.mark.parametrize("overrides", [
    {"layer_type": "basic", "hidden_sizes": [16, 24], "hidden_act": "gelu"},
    {"downsample_in_bottleneck": True, "downsample_in_first_stage": True},
])
def test_variants_match_hf(tmp_path, overrides):
    torch.manual_seed(0)
    hf = transformers.ResNetModel(tiny_resnet_config(**overrides)).eval()
    randomise_hf_batch_norms(hf)
    hf.save_pretrained(tmp_path)
    x = pixel_values(hf.config, size=27)  # odd size: the pools' and strides' rounding
    with torch.no_grad():
        theirs = hf(torch.tensor(x), output_hidden_states=True)
    ours = keras_tfm.ResNetModel.from_pretrained(tmp_path)(x, output_hidden_states=True)
    compare(ours, theirs, list(theirs.keys()))


def hf_backbone(tmp_path, **overrides):
    torch.manual_seed(0)
    hf = transformers.ResNetBackbone(tiny_resnet_config(**overrides)).eval()
    randomise_hf_batch_norms(hf)
    hf.save_pretrained(tmp_path)
    return hf


def compare_maps(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = to_np(a), b.detach().numpy()
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=ATOL)


@pytest.mark.parametrize("frozen", [False, True])
def test_backbone_matches_hf(tmp_path, frozen):
    hf = hf_backbone(tmp_path, out_features=["stem", "stage1", "stage2"])
    x = pixel_values(hf.config)
    with torch.no_grad():
        theirs = hf(torch.tensor(x), output_hidden_states=True)
    model = keras_tfm.AutoBackbone.from_pretrained(tmp_path) if not frozen else \
        keras_tfm.ResNetBackbone.from_pretrained(tmp_path, frozen_batch_norm=True)
    assert type(model).__name__ == "ResNetBackbone" and model.channels == [16, 16, 32]
    ours = model(x, output_hidden_states=True)
    compare_maps(ours.feature_maps, theirs.feature_maps)
    compare_maps(ours.hidden_states, theirs.hidden_states)
    assert model(x).hidden_states is None
    internal = model.feature_maps_internal(to_internal(x))
    compare_maps([keras_tfm.layers.to_channels_first(m) for m in internal], theirs.feature_maps)


def test_frozen_batch_norm_backbone(tmp_path):
    """With frozen batch norm (DETR's backbone) every norm keeps its statistics in training mode."""
    hf_backbone(tmp_path)
    frozen = keras_tfm.ResNetBackbone.from_pretrained(tmp_path, frozen_batch_norm=True)
    plain = keras_tfm.ResNetBackbone.from_pretrained(tmp_path)
    norms = [layer for layer in frozen._flatten_layers() if "BatchNorm" in type(layer).__name__]
    assert norms and all(isinstance(norm, FrozenBatchNorm) for norm in norms)
    assert not [w for w in frozen.trainable_weights if "gamma" in w.path or "beta" in w.path]
    x = pixel_values(frozen.config)
    eval_maps = frozen(x).feature_maps[-1]
    np.testing.assert_array_equal(to_np(frozen(x, training=True).feature_maps[-1]), to_np(eval_maps))
    assert np.abs(to_np(plain(x, training=True).feature_maps[-1]) - to_np(eval_maps)).max() > 1e-3


def test_backbone_from_classifier_checkpoint_and_back_to_hf(tmp_path):
    """A ResNetForImageClassification checkpoint (``resnet.`` names) loads into the backbone; the
    backbone saves what HF's ResNetBackbone loads."""
    torch.manual_seed(0)
    hf = transformers.ResNetForImageClassification(tiny_resnet_config(out_indices=[1, 2])).eval()
    randomise_hf_batch_norms(hf)
    hf.save_pretrained(tmp_path / "classifier")
    ours = keras_tfm.ResNetBackbone.from_pretrained(tmp_path / "classifier")
    ours.save_pretrained(tmp_path / "backbone", safe_serialization=False)  # pytorch_model.bin
    again = transformers.ResNetBackbone.from_pretrained(tmp_path / "backbone").eval()
    assert again.config.out_features == ["stage1", "stage2"]
    x = pixel_values(hf.config)
    with torch.no_grad():
        theirs = again(torch.tensor(x))
        last = hf.resnet(torch.tensor(x)).last_hidden_state
    compare_maps(ours(x).feature_maps, theirs.feature_maps)
    np.testing.assert_allclose(to_np(ours(x).feature_maps[-1]), last.numpy(), atol=ATOL)


def test_config_out_features_follow_hf():
    for kwargs in ({}, {"out_indices": [1, -1]}, {"out_features": ["stem", "stage2"]},
                   {"out_features": ["stage1"], "out_indices": [1]}):
        theirs = tiny_resnet_config(**kwargs)
        base = {k: v for k, v in tiny_resnet_config().to_dict().items() if k not in ("out_features", "out_indices")}
        ours = keras_tfm.ResNetConfig(**base | kwargs)
        assert (ours.stage_names, ours.out_features, ours.out_indices) == \
            (theirs.stage_names, theirs.out_features, list(theirs.out_indices))
        again = keras_tfm.ResNetConfig.from_dict(ours.to_dict())
        assert again.out_features == ours.out_features and again.to_dict() == ours.to_dict()
    ours.out_indices = [0, 2]
    assert ours.out_features == ["stem", "stage2"]
    for bad in ({"out_features": ["stage9"]}, {"out_indices": [2, 1]}, {"out_features": ["stem"], "out_indices": [1]},
                {"layer_type": "wide"}):
        with pytest.raises(ValueError):
            keras_tfm.ResNetConfig(hidden_sizes=[8, 16], depths=[1, 1], **bad)


def test_wrong_channel_count_is_named():
    model = keras_tfm.ResNetModel.from_config(keras_tfm.ResNetConfig(**tiny_resnet_config().to_dict()))
    with pytest.raises(ValueError, match="num_channels"):
        model(np.zeros((1, 1, 32, 32), "float32"))
