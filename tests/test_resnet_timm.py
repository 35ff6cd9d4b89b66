"""timm's ResNets (DETR's ``use_timm_backbone``) on our ResNetBackbone: timm's names and configs, against
feature maps of real timm models (tests/fixtures/timm_resnet, written by tests/make_timm_fixtures.py)."""

import json
import os

import numpy as np
import pytest
import transformers
from safetensors.numpy import load_file

import keras_tfm
from keras_tfm.modeling_utils import named_variables
from keras_tfm.models.resnet.timm_resnet import TIMM_WEIGHT_MAP, load_timm_state_dict, resnet_config_from_timm
from tests.model_tester import ATOL, to_np

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "timm_resnet")
with open(os.path.join(FIXTURES, "manifest.json")) as _f:
    MODELS = json.load(_f)["models"]


@pytest.mark.parametrize("key", sorted(MODELS))
@pytest.mark.parametrize("frozen", [True, False])
def test_timm_feature_maps(key, frozen):
    entry = MODELS[key]
    config = resnet_config_from_timm(entry["name"], out_indices=entry["out_indices"], **entry["config"])
    backbone = keras_tfm.ResNetBackbone(config, frozen_batch_norm=frozen).build_weights()
    state = load_file(os.path.join(FIXTURES, f"{key}.safetensors"))
    report = load_timm_state_dict(backbone, state)
    assert report == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert backbone.weight_map is keras_tfm.ResNetBackbone.weight_map  # back to HF's names
    reference = np.load(os.path.join(FIXTURES, f"{key}.npz"))
    maps = backbone(reference["pixel_values"]).feature_maps
    assert len(maps) == len(entry["out_indices"]) and backbone.channels == [m.shape[1] for m in maps]
    for j, ours in enumerate(maps):
        np.testing.assert_allclose(to_np(ours), reference[f"map{j}"], atol=ATOL, err_msg=f"map {j}")
    # Every variable has one timm name, and the names are timm's (less its batch-norm step counters).
    names = {TIMM_WEIGHT_MAP.hf_name(path) for path in named_variables(backbone)}
    assert names == {n for n in state if not n.endswith("num_batches_tracked")}


def test_timm_configs_are_hf_resnets():
    hf_resnet50 = transformers.ResNetConfig()  # HF's defaults: microsoft/resnet-50
    ours = resnet_config_from_timm("timm/resnet50.a1_in1k")
    for field in ("embedding_size", "hidden_sizes", "depths", "layer_type", "hidden_act", "downsample_in_first_stage",
                  "downsample_in_bottleneck"):
        theirs = getattr(hf_resnet50, field)
        assert getattr(ours, field) == (list(theirs) if isinstance(theirs, tuple) else theirs), field
    assert ours.out_features == ["stage1", "stage2", "stage3", "stage4"]
    r18 = resnet_config_from_timm("resnet18", out_indices=(4,), num_channels=1)
    assert (r18.layer_type, r18.depths, r18.hidden_sizes, r18.out_features, r18.num_channels) == \
        ("basic", [2, 2, 2, 2], [64, 128, 256, 512], ["stage4"], 1)
    assert resnet_config_from_timm("resnet101").depths == [3, 4, 23, 3]
    assert resnet_config_from_timm("resnet152").depths == [3, 8, 36, 3]


@pytest.mark.parametrize("name,kwargs,match", [
    ("resnet50d", {}, "resnet50d"),
    ("resnet50", {"out_indices": (0, 1)}, "index 0"),
    ("resnet50", {"output_stride": 16}, "output_stride"),
])
def test_timm_configs_we_cannot_map(name, kwargs, match):
    with pytest.raises((ValueError, NotImplementedError), match=match):
        resnet_config_from_timm(name, **kwargs)
