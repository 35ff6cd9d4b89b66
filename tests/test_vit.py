import numpy as np
import pytest
import safetensors.numpy
import torch
import transformers

import keras_tfm
from tests.model_tester import ATOL, ModelTesterMixin, compare, to_np


def tiny_vit_config(**overrides):
    return transformers.ViTConfig(**{
        "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24, "image_size": 16,
        "patch_size": 4, "num_channels": 3, "encoder_stride": 4, "attn_implementation": "eager", **overrides})


def pixel_values(batch=2, channels=3, height=16, width=16, seed=0):
    return np.random.RandomState(seed).randn(batch, channels, height, width).astype("float32")


class TestViT(ModelTesterMixin):
    hf_config = staticmethod(tiny_vit_config)
    heads = {
        "base": ("ViTModel", "ViTModel", "AutoModel"),
        "image": ("ViTForImageClassification", "ViTForImageClassification", "AutoModelForImageClassification"),
    }

    def model_inputs(self, config):
        size = config.image_size
        return {"pixel_values": pixel_values(channels=config.num_channels, height=size, width=size)}

    def test_attentions_and_return_dict(self, tmp_path):
        hf, path = self.hf_model("ViTForImageClassification", tmp_path)
        inputs = self.model_inputs(hf.config)
        with torch.no_grad():
            theirs = hf(pixel_values=torch.tensor(inputs["pixel_values"]), output_attentions=True)
        model = keras_tfm.AutoModelForImageClassification.from_pretrained(path)
        ours = model(**inputs, output_attentions=True)
        assert len(ours.attentions) == len(theirs.attentions) == 2
        for a, b in zip(ours.attentions, theirs.attentions):
            np.testing.assert_allclose(to_np(a), b.numpy(), atol=ATOL)
        first = model(**inputs, output_attentions=True, return_dict=False)[0]
        np.testing.assert_array_equal(to_np(first), to_np(ours.logits))


def _hf_and_ours(tmp_path, hf_class="ViTForImageClassification", **overrides):
    torch.manual_seed(0)
    hf = getattr(transformers, hf_class)(tiny_vit_config(num_labels=3, **overrides)).eval()
    hf.save_pretrained(tmp_path)
    return hf, getattr(keras_tfm, hf_class).from_pretrained(tmp_path)


@pytest.mark.parametrize("size", [(24, 24), (12, 20), (16, 28)])
def test_interpolate_pos_encoding_matches_hf(tmp_path, size):
    hf, ours = _hf_and_ours(tmp_path)
    x = pixel_values(height=size[0], width=size[1], seed=3)
    with torch.no_grad():
        theirs = hf(pixel_values=torch.tensor(x), interpolate_pos_encoding=True, output_hidden_states=True)
    compare(ours(pixel_values=x, interpolate_pos_encoding=True, output_hidden_states=True), theirs,
            ["logits", "hidden_states"])


def test_no_qkv_bias_and_pooler_options_match_hf(tmp_path):
    hf, ours = _hf_and_ours(tmp_path, "ViTModel", qkv_bias=False, pooler_output_size=10, pooler_act="relu")
    x = pixel_values()
    with torch.no_grad():
        theirs = hf(pixel_values=torch.tensor(x))
    assert compare(ours(pixel_values=x), theirs, ["last_hidden_state", "pooler_output"]) <= ATOL


def test_bool_masked_pos_matches_hf(tmp_path):
    torch.manual_seed(0)
    hf = transformers.ViTModel(tiny_vit_config(), use_mask_token=True).eval()
    torch.nn.init.normal_(hf.embeddings.mask_token)
    hf.save_pretrained(tmp_path)
    ours = keras_tfm.ViTModel(keras_tfm.ViTConfig.from_pretrained(tmp_path), use_mask_token=True)
    ours.build_weights()
    ours.load_state_dict_hf(safetensors.numpy.load_file(tmp_path / "model.safetensors"))
    x, mask = pixel_values(), np.random.RandomState(1).rand(2, 16) < 0.5
    with torch.no_grad():
        theirs = hf(pixel_values=torch.tensor(x), bool_masked_pos=torch.tensor(mask))
    compare(ours(pixel_values=x, bool_masked_pos=mask), theirs, ["last_hidden_state"])


def test_bad_image_size_and_channels_are_clear_errors(tmp_path):
    _, ours = _hf_and_ours(tmp_path)
    with pytest.raises(ValueError, match=r"Input image size \(24\*24\) doesn't match model \(16\*16\)"):
        ours(pixel_values=pixel_values(height=24, width=24))
    with pytest.raises(ValueError, match="Expected 3 but got 1"):
        ours(pixel_values=pixel_values(channels=1))
