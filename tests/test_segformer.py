"""SegFormer against HF transformers (PyTorch): the Mix Transformer encoder, the image classifier and
the semantic segmentation head (its batch norm with random statistics), both ways, with losses."""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from tests.model_tester import (
    ATOL,
    ModelTesterMixin,
    compare,
    to_np,
)

HEIGHT, WIDTH = 30, 36  # not multiples of the strides: the padded convolutions and the resizes round


def tiny_segformer_config(**overrides):
    config = transformers.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 2], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3],
        strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=8,
        initializer_range=0.2, **overrides)  # N(0, 0.02) weights would leave the logits nearly constant
    config._attn_implementation = "eager"  # HF returns attention probabilities from eager attention only
    return config


def pixel_values(batch=2, seed=0):
    return np.random.RandomState(seed).randn(batch, 3, HEIGHT, WIDTH).astype("float32")


def segmentation_labels(rng, batch, num_labels, height=HEIGHT, width=WIDTH):
    labels = rng.randint(0, max(num_labels, 2), (batch, height, width))
    labels[0, :4] = 255  # ignored pixels
    labels[1, :, -3:] = 255
    return labels


class TestSegformer(ModelTesterMixin):
    has_batch_norms = True
    hf_config = staticmethod(tiny_segformer_config)
    heads = {
        "base": ("SegformerModel", "SegformerModel", "AutoModel"),
        "classification": ("SegformerForImageClassification", "SegformerForImageClassification",
                           "AutoModelForImageClassification"),
        "semantic": ("SegformerForSemanticSegmentation", "SegformerForSemanticSegmentation",
                     "AutoModelForSemanticSegmentation"),
    }

    def model_inputs(self, config):
        return {"pixel_values": pixel_values()}

    def test_attentions_and_return_dict(self, tmp_path):
        for head, (hf_name, _, auto_name) in self._heads():
            hf, path = self.hf_model(hf_name, tmp_path / head)
            inputs = self.model_inputs(hf.config)
            with torch.no_grad():
                theirs = hf(pixel_values=torch.tensor(inputs["pixel_values"]), output_attentions=True)
            model = getattr(keras_tfm, auto_name).from_pretrained(path)
            ours = model(**inputs, output_attentions=True)
            assert len(ours.attentions) == len(theirs.attentions) == 3
            # (B, heads, h * w, reduced keys): stage 0 (8 x 9 tokens) attends over its 4 x 4 reduced map (floor 9 / 2)
            assert tuple(ours.attentions[0].shape) == (2, 1, 72, 16)
            compare(ours, theirs, ["attentions"])
            if head == "semantic":  # a quarter of the image, rounded up (8 x 9 for 30 x 36)
                assert tuple(ours.logits.shape) == (2, 3, 8, 9)
            assert ours.hidden_states is None and (head == "base" or "hidden_states" not in theirs)
            first = model(**inputs, output_attentions=True, return_dict=False)[0]
            np.testing.assert_array_equal(to_np(first), to_np(ours.to_tuple()[0]))

    @staticmethod
    def loss_cases(hf_class_name, inputs, vocab_size, rng):
        if "SemanticSegmentation" in hf_class_name:
            batch = len(inputs["pixel_values"])
            return [
                ("semantic", {"num_labels": 3}, {"labels": segmentation_labels(rng, batch, 3)}),
                # labels at another size than the image: the logits are resized to theirs
                ("semantic_small_labels", {"num_labels": 4}, {"labels": segmentation_labels(rng, batch, 4, 13, 17)}),
                ("binary", {"num_labels": 1}, {"labels": segmentation_labels(rng, batch, 1)}),
            ]
        if "ImageClassification" in hf_class_name:
            return ModelTesterMixin.loss_cases(hf_class_name, inputs, vocab_size, rng)
        return []  # the base model


@pytest.mark.parametrize("hf_name", ["SegformerModel", "SegformerForImageClassification"])
def test_reshape_last_stage_false_gives_tokens(hf_name, tmp_path):
    torch.manual_seed(0)
    config = tiny_segformer_config(reshape_last_stage=False, num_labels=3)
    hf = getattr(transformers, hf_name)(config).eval()
    hf.save_pretrained(tmp_path)
    inputs = {"pixel_values": pixel_values()}
    with torch.no_grad():
        theirs = hf(pixel_values=torch.tensor(inputs["pixel_values"]), output_hidden_states=True)
    ours = getattr(keras_tfm, hf_name).from_pretrained(tmp_path)(**inputs, output_hidden_states=True)
    assert len(ours.hidden_states[-1].shape) == 3  # (B, h * w, C)
    compare(ours, theirs, list(theirs.keys()))


def test_semantic_segmentation_needs_maps():
    config = keras_tfm.SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8],
                                       patch_sizes=[3], strides=[2], num_attention_heads=[1], mlp_ratios=[1],
                                       reshape_last_stage=False)
    with pytest.raises(ValueError, match="reshape_last_stage"):
        keras_tfm.SegformerForSemanticSegmentation(config)
    with pytest.raises(ValueError, match="hidden_sizes"):
        keras_tfm.SegformerConfig(num_encoder_blocks=3, hidden_sizes=[8, 16])


def test_training_mode_drops_paths_and_inference_does_not():
    from keras_tfm.layers import DropPath

    x = np.ones((64, 3, 4), "float32")
    layer = DropPath(0.5, seed=0)
    np.testing.assert_array_equal(to_np(layer(x)), x)
    dropped = to_np(layer(x, training=True))
    per_sample = dropped.reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, 2.0}  # whole samples dropped, the kept ones scaled by 1 / keep
    assert (per_sample.min(axis=1) == per_sample.max(axis=1)).all()
    assert 10 < (per_sample[:, 0] == 0).sum() < 54

    config = keras_tfm.AutoConfig.for_model(**tiny_segformer_config(drop_path_rate=0.5, num_labels=2).to_dict())
    model = keras_tfm.SegformerForSemanticSegmentation.from_config(config)
    inputs = pixel_values()
    eval_a, eval_b = to_np(model(pixel_values=inputs).logits), to_np(model(pixel_values=inputs).logits)
    np.testing.assert_array_equal(eval_a, eval_b)
    assert np.abs(to_np(model(pixel_values=inputs, training=True).logits) - eval_a).max() > ATOL


def test_fit_on_the_internal_loss_learns_blocks():
    """keras fit (training mode: batch norm statistics, dropout, drop path) on the segmentation loss,
    with ignored pixels: images of 8 x 8 blocks, each block's class the sign of its first channel."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    blocks = rng.randn(16, 3, 4, 4).astype("float32")
    images = np.repeat(np.repeat(blocks, 8, axis=2), 8, axis=3)  # (16, 3, 32, 32)
    labels = (images[:, 0] > 0).astype("int32")
    labels[:, :2] = 255
    config = keras_tfm.AutoConfig.for_model(**tiny_segformer_config(num_labels=2).to_dict())
    model = keras_tfm.SegformerForSemanticSegmentation.from_config(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit({"pixel_values": images, "labels": labels}, batch_size=8, epochs=6, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]


def test_image_processor_feeds_the_loss_as_hf(tmp_path):
    """SegformerImageProcessor (images and segmentation maps, reduced labels) -> the model's loss, as HF's
    PIL processor and model compute it."""
    from PIL import Image

    torch.manual_seed(0)
    hf = transformers.SegformerForSemanticSegmentation(tiny_segformer_config(num_labels=3)).eval()
    hf.save_pretrained(tmp_path)
    rng = np.random.RandomState(0)
    images = [Image.fromarray(rng.randint(0, 255, (40, 52, 3), dtype=np.uint8)),
              Image.fromarray(rng.randint(0, 255, (33, 29, 3), dtype=np.uint8))]
    maps = [Image.fromarray(rng.randint(0, 4, image.size[::-1], dtype=np.uint8)) for image in images]
    options = {"size": {"height": 32, "width": 32}, "do_reduce_labels": True}  # class 0 -> 255, ignored
    theirs_inputs = transformers.SegformerImageProcessorPil(**options)(images, segmentation_maps=maps,
                                                                       return_tensors="pt")
    ours_inputs = keras_tfm.SegformerImageProcessor(**options)(images, segmentation_maps=maps, return_tensors="np")
    assert (ours_inputs["labels"] == 255).any()
    with torch.no_grad():
        theirs = hf(**theirs_inputs)
    ours = keras_tfm.AutoModelForSemanticSegmentation.from_pretrained(tmp_path)(**ours_inputs)
    assert abs(float(to_np(ours.loss)) - theirs.loss.item()) <= 1e-5
    assert np.abs(to_np(ours.logits) - theirs.logits.numpy()).max() <= ATOL
