"""BLIP captioning against transformers 5 (PyTorch) on a tiny random model: logits, loss (with label
smoothing) and image embeddings both ways, greedy captions without and with a text prompt and beam
search token for token, save -> HF load; ``BlipImageProcessor`` and ``BlipProcessor`` against HF's."""

import json

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

import keras_tfm
from keras_tfm import (
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoModelForVision2Seq,
    AutoProcessor,
    BlipForConditionalGeneration,
    BlipImageProcessor,
    BlipProcessor,
    BlipVisionModel,
)
from tests.model_tester import ATOL, to_np
from tests.test_image_processors import assert_same, once, smooth

PAD, CLS, SEP, DEC = 0, 101, 102, 126  # BLIP's: [PAD], the tokenizer's [CLS] / [SEP], [DEC] (bos)
TEXT = dict(vocab_size=128, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, bos_token_id=DEC, pad_token_id=PAD, sep_token_id=SEP, eos_token_id=2,
            label_smoothing=0.1)
VISION = dict(hidden_size=24, intermediate_size=31, num_hidden_layers=2, num_attention_heads=4, image_size=32,
              patch_size=8, initializer_range=0.02)
NEW_TOKENS = 20


def spread(model, seed=0):
    """Weights of a wider spread than HF's init (norms near 1), so the captions vary and no greedy choice
    is near a tie that fp32 rounding could flip."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=generator) if name.endswith("weight")
                        else 0.1 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(HF model, its folder, ours loaded from it)."""
    torch.manual_seed(0)
    hf = transformers.BlipForConditionalGeneration(transformers.BlipConfig(text_config=TEXT, vision_config=VISION))
    spread(hf)
    hf.eval()
    folder = tmp_path_factory.mktemp("blip")
    hf.save_pretrained(folder)
    return hf, folder, BlipForConditionalGeneration.from_pretrained(folder)


def inputs(batch=2, length=7, seed=0):
    rng = np.random.RandomState(seed)
    pixel_values = rng.randn(batch, 3, 32, 32).astype("float32")
    ids = rng.randint(3, 100, (batch, length))
    ids[:, 0] = CLS
    labels = ids.copy()
    labels[1, 5:] = -100
    return pixel_values, ids, labels


def assert_forward_matches(ours, hf, states=False):
    """Logits, image embeddings, the loss (and with ``states`` the vision model's hidden states and attentions)."""
    pixel_values, ids, labels = inputs()
    flags = {"output_hidden_states": states, "output_attentions": states}
    with torch.no_grad():
        theirs = hf(pixel_values=torch.tensor(pixel_values), input_ids=torch.tensor(ids),
                    labels=torch.tensor(labels), **flags)
    got = ours(pixel_values=pixel_values, input_ids=ids, labels=labels, **flags)
    for key in ("logits", "image_embeds", "last_hidden_state"):
        np.testing.assert_allclose(to_np(got[key]), theirs[key].numpy(), atol=ATOL, rtol=0, err_msg=key)
    assert abs(float(to_np(got.loss)) - float(theirs.loss)) <= ATOL
    for key in ("hidden_states", "attentions") if states else ():
        assert len(got[key]) == len(theirs[key]) == VISION["num_hidden_layers"] + (key == "hidden_states")
        for a, b in zip(got[key], theirs[key]):
            np.testing.assert_allclose(to_np(a), b.numpy(), atol=ATOL, rtol=0, err_msg=key)


def test_hf_to_ours_logits_loss_and_image_embeddings(models):
    hf, folder, ours = models
    assert ours.config.text_config.encoder_hidden_size == VISION["hidden_size"]
    assert_forward_matches(ours, hf, states=True)
    # the vision model alone, from the captioner's checkpoint (its vision_model.* tensors)
    vision = BlipVisionModel.from_pretrained(folder)
    pixel_values = inputs()[0]
    with torch.no_grad():
        theirs = hf.vision_model(pixel_values=torch.tensor(pixel_values))
    got = vision(pixel_values)
    for key in ("last_hidden_state", "pooler_output"):
        np.testing.assert_allclose(to_np(got[key]), theirs[key].numpy(), atol=ATOL, rtol=0, err_msg=key)


def test_ours_to_hf_and_auto_classes(models, tmp_path):
    hf, _, ours = models
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["text_config"]["sep_token_id"] == SEP
    assert_forward_matches(ours, transformers.BlipForConditionalGeneration.from_pretrained(tmp_path).eval())
    for auto in (AutoModelForVision2Seq, AutoModelForImageTextToText):
        assert type(auto.from_pretrained(tmp_path)) is BlipForConditionalGeneration


def hf_generate(hf, pixel_values, **kwargs):
    with torch.no_grad():
        out = hf.generate(pixel_values=torch.tensor(pixel_values), max_new_tokens=NEW_TOKENS, output_scores=True,
                          return_dict_in_generate=True, **{k: torch.tensor(v) for k, v in kwargs.items()})
    return out.sequences.numpy(), out.scores


def assert_clear_choices(scores):
    """Every greedy choice wins by more than fp32 noise, so that token equality is a fair test."""
    for step in scores:
        top = torch.topk(step[torch.isfinite(step).all(-1)], 2).values
        assert bool((top[:, 0] - top[:, 1] > 1e-3).all())


@pytest.mark.parametrize("prompt", [False, True])
def test_greedy_captions_match_hf(models, prompt):
    hf, _, ours = models
    pixel_values = inputs(batch=3, seed=1)[0]
    kwargs = {}
    if prompt:  # the processor's [CLS] a picture of [SEP]: [CLS] becomes [DEC], [SEP] is dropped
        kwargs = {"input_ids": np.array([[CLS, 40, 50, 60, SEP]] * 3), "attention_mask": np.ones((3, 5), "int64")}
    want, scores = hf_generate(hf, pixel_values, **kwargs)
    assert_clear_choices(scores)
    got = to_np(ours.generate(pixel_values, max_new_tokens=NEW_TOKENS, **kwargs))
    np.testing.assert_array_equal(got, want)
    assert len(set(want[:, -NEW_TOKENS:].ravel().tolist())) > 3  # captions that vary
    assert (want[:, 0] == DEC).all() and (not prompt or (want[:, 1:4] == [40, 50, 60]).all())


def test_beam_search_matches_hf(models):
    hf, _, ours = models
    pixel_values = inputs(batch=2, seed=2)[0][:1]  # 3 beams: the greedy tests' 3 rows, the same compiled decode step
    with torch.no_grad():
        want = hf.generate(pixel_values=torch.tensor(pixel_values), num_beams=3, max_new_tokens=8).numpy()
    np.testing.assert_array_equal(to_np(ours.generate(pixel_values, num_beams=3, max_new_tokens=8)), want)


def test_bad_input_is_a_clear_error(models):
    _, _, ours = models
    pixel_values = inputs()[0]
    with pytest.raises(ValueError, match="pixel_values"):
        ours(input_ids=np.array([[CLS, 5]]))
    with pytest.raises(ValueError, match="pixel_values"):
        ours.generate()
    with pytest.raises(ValueError, match=r"input_ids of shape \(batch, length >= 2\)"):
        ours.generate(pixel_values, input_ids=np.array([[CLS], [CLS]]))
    with pytest.raises(NotImplementedError, match="padding"):
        ours.generate(pixel_values, input_ids=np.array([[CLS, 5, 6, 7, SEP], [CLS, 5, SEP, PAD, PAD]]),
                      attention_mask=np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))


# ---------------------------------------------------------------------------------------- processing

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]", "a", "picture", "of", "two", "cats", "on",
         "the", "couch", "dog", "##s", "sleep", "##ing", ","]


@pytest.fixture(scope="module")
def hf_processor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blip_processor")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]",
                                           additional_special_tokens=["[ENC]"])
    image_processor = transformers.BlipImageProcessorPil(size={"height": 24, "width": 24})
    processor = transformers.BlipProcessor(image_processor, tokenizer)
    processor.save_pretrained(folder / "saved")
    return processor, folder / "saved"


def pictures():
    rng = np.random.default_rng(0)
    return [Image.fromarray(smooth(rng, 43, 61)), Image.fromarray(smooth(rng, 30, 19, 4)),  # RGBA
            Image.fromarray(smooth(rng, 33, 38, 1)[..., 0])]  # grey


@once
def test_image_processor_is_bit_identical_to_hf():
    images = pictures()
    for options in ({}, {"size": {"height": 24, "width": 40}, "resample": 2}):
        theirs = transformers.BlipImageProcessorPil(**options)(images, return_tensors="np")
        ours = BlipImageProcessor(**options)(images, return_tensors="np")
        assert ours["pixel_values"].shape == theirs["pixel_values"].shape
        np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])


def test_processor_matches_hf_and_round_trips(hf_processor, tmp_path):
    theirs, folder = hf_processor
    ours = AutoProcessor.from_pretrained(folder)
    assert type(ours) is BlipProcessor and type(ours.image_processor) is BlipImageProcessor
    assert type(AutoImageProcessor.from_pretrained(folder)) is BlipImageProcessor
    images, text = pictures()[:2], ["a picture of", "two cats sleeping on the couch"]
    want = theirs(images=images, text=text, padding=True, return_tensors="np")
    got = ours(images=images, text=text, padding=True, return_tensors="np")
    assert sorted(got.keys()) == sorted(want.keys()) == ["attention_mask", "input_ids", "pixel_values"]
    assert_same(got, want)
    assert ours.batch_decode(want["input_ids"], skip_special_tokens=True) == theirs.batch_decode(
        want["input_ids"], skip_special_tokens=True)
    ours.save_pretrained(tmp_path)
    again = transformers.BlipProcessor.from_pretrained(tmp_path)
    assert_same(again(images=images, text=text, padding=True, return_tensors="np"), want)
    assert AutoProcessor.from_pretrained(tmp_path).to_dict() == ours.to_dict()

