"""ViLT: ViltForQuestionAnswering / ViltModel against HF transformers 5 (PyTorch) on a padded batch of two
images of different sizes and padded questions, both directions; ViltImageProcessor / ViltProcessor
against HF's (bit-identical outputs, folders loading both ways)."""

import numpy as np
import PIL.Image
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm.inference import compiled_forward
from keras_tfm.models.vilt.model_vilt import select_patches
from tests.model_tester import ATOL, to_np

ANSWERS = ["yes", "no", "two", "one", "red", "blue"]
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *ANSWERS,
         *"how many cats are there what color is the dog a on in of sky".split(), *"abcdefghijklmnopqrstuvwxyz?"]
QUESTIONS = ["how many cats are there?", "what color is the sky"]


def tiny_config(**overrides):
    return transformers.ViltConfig(**{
        "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 24,
        "image_size": 32, "patch_size": 8, "vocab_size": len(WORDS), "max_position_embeddings": 16,
        "id2label": dict(enumerate(ANSWERS)), "label2id": {a: i for i, a in enumerate(ANSWERS)}, **overrides})


def images(seed=0):
    """Two odd-sized images: 37x53 -> 32x40 and 61x29 -> 48x24 at shortest_edge 32, size_divisor 8."""
    rng = np.random.RandomState(seed)
    return [PIL.Image.fromarray(rng.randint(0, 256, (37, 53, 3), dtype=np.uint8)),
            PIL.Image.fromarray(rng.randint(0, 256, (61, 29, 3), dtype=np.uint8))]


def hf_model(path, **overrides):
    torch.manual_seed(0)
    model = transformers.ViltForQuestionAnswering(tiny_config(**overrides)).eval()
    with torch.no_grad():  # HF starts [CLS] and the patch positions at zero: make every weight count
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("vilt")
    (root / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tokenizer = transformers.BertTokenizer(str(root / "vocab.txt"))
    image_processor = transformers.ViltImageProcessorPil(size={"shortest_edge": 32}, size_divisor=8)
    processor = transformers.ViltProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(root / "processor")
    hf = hf_model(root / "model")
    return {"root": root, "processor": processor, "hf": hf}


@pytest.fixture(scope="module")
def inputs(folders):
    batch = folders["processor"](images=images(), text=QUESTIONS, padding=True, return_tensors="np")
    return {key: np.asarray(value) for key, value in batch.items()}


@pytest.fixture(scope="module")
def model(folders):
    return keras_tfm.AutoModelForVisualQuestionAnswering.from_pretrained(folders["root"] / "model")


def run_hf(model, inputs, **kwargs):
    with torch.no_grad():
        return model(**{k: torch.tensor(v) for k, v in inputs.items()}, **kwargs)


def compare_states(ours, theirs, text_length):
    """Max abs diff of (B, T + 1 + L, C) states: text and image [CLS] tokens in place; patch tokens as sets
    (HF draws the order of an image's patches with torch.multinomial), each feature sorted over them."""
    ours, theirs = to_np(ours), theirs.numpy()
    assert ours.shape == theirs.shape
    fixed = text_length + 1
    in_place = np.abs(ours[:, :fixed] - theirs[:, :fixed]).max()
    as_sets = np.abs(np.sort(ours[:, fixed:], axis=1) - np.sort(theirs[:, fixed:], axis=1)).max()
    return max(in_place, as_sets)


def test_inputs_are_a_padded_batch(inputs):
    assert inputs["pixel_values"].shape == (2, 3, 48, 40)
    assert inputs["pixel_mask"][0].sum() == 32 * 40 and inputs["pixel_mask"][1].sum() == 48 * 24
    assert inputs["attention_mask"].min() == 0  # the shorter question is padded


def test_vqa_hf_to_keras_tfm(folders, inputs, model):
    theirs = run_hf(folders["hf"], inputs, output_hidden_states=True)
    assert type(model).__name__ == "ViltForQuestionAnswering"
    ours = model(**inputs, output_hidden_states=True)
    assert np.abs(to_np(ours.logits) - theirs.logits.numpy()).max() <= ATOL
    text_length = inputs["input_ids"].shape[1]
    assert len(ours.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(ours.hidden_states, theirs.hidden_states):
        assert compare_states(a, b, text_length) <= ATOL
    assert model.config.id2label[2] == "two"


def test_base_model_from_vqa_checkpoint(folders, inputs):
    hf = transformers.ViltModel.from_pretrained(folders["root"] / "model").eval()
    theirs = run_hf(hf, inputs)
    ours = keras_tfm.AutoModel.from_pretrained(folders["root"] / "model")
    assert type(ours).__name__ == "ViltModel"
    out = ours(**inputs)
    # 32x40 and 48x24 pixels: 4x5 = 20 and 6x3 = 18 patches, so 20 image tokens after [CLS].
    assert out.last_hidden_state.shape[1] == inputs["input_ids"].shape[1] + 1 + 20
    assert compare_states(out.last_hidden_state, theirs.last_hidden_state, inputs["input_ids"].shape[1]) <= ATOL
    assert np.abs(to_np(out.pooler_output) - theirs.pooler_output.numpy()).max() <= ATOL


def test_soft_label_loss_matches_hf(folders, inputs, model):
    labels = np.random.RandomState(1).rand(2, len(ANSWERS)).astype("float32")
    labels[labels < 0.5] = 0.0
    theirs = run_hf(folders["hf"], {**inputs, "labels": labels})
    ours = model(**inputs, labels=labels)
    assert abs(float(to_np(ours.loss)) - theirs.loss.item()) <= 1e-5


def test_keras_tfm_to_hf_and_back(tmp_path, inputs):
    config = keras_tfm.AutoConfig.for_model(**tiny_config().to_dict())
    ours = keras_tfm.ViltForQuestionAnswering.from_config(config)
    ours.save_pretrained(tmp_path)
    hf = transformers.ViltForQuestionAnswering.from_pretrained(tmp_path).eval()
    theirs = run_hf(hf, inputs)
    logits = to_np(ours(**inputs).logits)
    assert np.abs(logits - theirs.logits.numpy()).max() <= ATOL
    again = keras_tfm.AutoModelForVisualQuestionAnswering.from_pretrained(tmp_path)
    np.testing.assert_array_equal(to_np(again(**inputs).logits), logits)


@pytest.mark.parametrize("name", ["ViltForMaskedLM", "ViltForImageAndTextRetrieval", "ViltForTokenClassification"])
def test_other_heads_both_ways(tmp_path, inputs, name):
    torch.manual_seed(0)
    hf = getattr(transformers, name)(tiny_config()).eval()
    hf.save_pretrained(tmp_path / "hf")
    labels = None
    if name != "ViltForImageAndTextRetrieval":
        classes = len(WORDS) if name == "ViltForMaskedLM" else len(ANSWERS)
        labels = np.random.RandomState(3).randint(0, classes, inputs["input_ids"].shape)
        labels[inputs["attention_mask"] == 0] = -100
    extra = {} if labels is None else {"labels": labels}
    theirs = run_hf(hf, {**inputs, **extra})
    ours = getattr(keras_tfm, name).from_pretrained(tmp_path / "hf")
    out = ours(**inputs, **extra)
    assert np.abs(to_np(out.logits) - theirs.logits.numpy()).max() <= ATOL
    if labels is not None:
        assert abs(float(to_np(out.loss)) - theirs.loss.item()) <= 1e-5
    ours.save_pretrained(tmp_path / "ours")
    again = getattr(transformers, name).from_pretrained(tmp_path / "ours").eval()
    np.testing.assert_allclose(run_hf(again, inputs).logits.numpy(), theirs.logits.numpy(), atol=1e-6)


def test_images_and_text_classification_matches_hf(tmp_path, inputs):
    """NLVR2's head: two images per question (here the batch's two images, swapped for the second)."""
    torch.manual_seed(0)
    config = tiny_config(num_images=2, num_labels=2, modality_type_vocab_size=3)
    hf = transformers.ViltForImagesAndTextClassification(config).eval()
    hf.save_pretrained(tmp_path)
    pair = {**inputs, "pixel_values": np.stack([inputs["pixel_values"], inputs["pixel_values"][::-1]], axis=1),
            "pixel_mask": np.stack([inputs["pixel_mask"], inputs["pixel_mask"][::-1]], axis=1),
            "labels": np.array([1, 0])}
    theirs = run_hf(hf, pair, output_hidden_states=True)
    ours = keras_tfm.ViltForImagesAndTextClassification.from_pretrained(tmp_path)
    out = ours(**pair, output_hidden_states=True)
    assert np.abs(to_np(out.logits) - theirs.logits.numpy()).max() <= ATOL
    assert abs(float(to_np(out.loss)) - theirs.loss.item()) <= 1e-5
    assert len(out.hidden_states) == 2 and len(out.hidden_states[1]) == 3
    assert compare_states(out.hidden_states[1][-1], theirs.hidden_states[1][-1], inputs["input_ids"].shape[1]) <= ATOL
    ours.save_pretrained(tmp_path / "ours")  # and back: HF loads what we save
    again = transformers.ViltForImagesAndTextClassification.from_pretrained(tmp_path / "ours").eval()
    np.testing.assert_allclose(run_hf(again, pair).logits.numpy(), theirs.logits.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="the model takes 2, the input has 1"):
        ours(**inputs)
    with pytest.raises(ValueError, match="2 images need modality_type_vocab_size >= 3; got 2"):
        keras_tfm.ViltForImagesAndTextClassification(keras_tfm.ViltConfig(num_images=2))


def test_compiled_forward_keeps_every_patch(inputs, model):
    """Compiled (jit / XLA / torch trace), the patch count is not known when tracing: every patch is kept,
    the padding ones masked, and the pooled output and the real tokens' states are the eager call's."""
    eager = model.backbone(**inputs)
    forward = compiled_forward(model.backbone)
    for _ in range(2):  # torch traces at the second call
        out = forward(**inputs)
    text_length = inputs["input_ids"].shape[1]
    assert out.last_hidden_state.shape[1] == text_length + 1 + 6 * 5  # the whole 48x40 grid of 8x8 patches
    np.testing.assert_allclose(to_np(out.pooler_output), to_np(eager.pooler_output), atol=1e-5)
    np.testing.assert_allclose(to_np(out.last_hidden_state)[:, :text_length + 21], to_np(eager.last_hidden_state),
                               atol=1e-5)


def test_max_image_length(tmp_path, inputs):
    """A cap at the batch's longest image changes nothing (HF's sampling is then deterministic up to
    order); a lower cap keeps evenly spaced patches of the images over it."""
    hf = hf_model(tmp_path, max_image_length=20)
    ours = keras_tfm.ViltForQuestionAnswering.from_pretrained(tmp_path)
    np.testing.assert_allclose(to_np(ours(**inputs).logits), run_hf(hf, inputs).logits.numpy(), atol=ATOL)
    ours.config.max_image_length = 7
    tokens, mask = ours.backbone.embeddings.visual_embed(inputs["pixel_values"], inputs["pixel_mask"])
    assert tuple(tokens.shape) == (2, 1 + 7, 16) and to_np(mask).min() == 1  # [CLS] + 7 real patches each
    mask = np.array([[0, 1, 1, 0, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]])
    lengths = mask.sum(1)
    np.testing.assert_array_equal(to_np(select_patches(mask, lengths, 4)), [[1, 4, 6, 8], [0, 1, 2, 3]])
    np.testing.assert_array_equal(to_np(select_patches(mask, lengths)), [[1, 2, 4, 5, 6, 7, 8, 9],
                                                                        [0, 1, 2, 3, 4, 5, 6, 7]])


def test_image_embeds_match_hf(folders, inputs, model):
    """Embedded image tokens instead of pixels (the main inputs' shapes: JAX compiles no new ones)."""
    image_mask = np.ones((2, 21), "int64")
    image_mask[1, 15:] = 0
    inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"],
              "image_embeds": np.random.RandomState(2).randn(2, 21, 16).astype("float32"), "pixel_mask": image_mask}
    theirs = run_hf(folders["hf"], inputs)
    assert np.abs(to_np(model(**inputs).logits) - theirs.logits.numpy()).max() <= ATOL


def test_bad_inputs(model, inputs):
    with pytest.raises(ValueError, match="same batch size"):
        model(**{**inputs, "input_ids": inputs["input_ids"][:1], "attention_mask": inputs["attention_mask"][:1]})
    with pytest.raises(ValueError, match="channel dimension"):
        model(**{**inputs, "pixel_values": inputs["pixel_values"][:, :2]})
    with pytest.raises(ValueError, match="exactly one of pixel_values and image_embeds"):
        model(input_ids=inputs["input_ids"])
    with pytest.raises(ValueError, match=r"Image 0 of the batch: Resizing an image of size \(37, 53\) to shortest edge 8"):
        keras_tfm.ViltImageProcessor(size={"shortest_edge": 8})(images())
    with pytest.raises(ValueError, match="shortest_edge"):
        keras_tfm.ViltImageProcessor(size={"height": 32, "width": 32})(images())


@pytest.mark.parametrize("options", [{}, {"size": {"shortest_edge": 64}, "size_divisor": 16}])
def test_image_processor_matches_hf(options):
    batch = [*images(3), np.random.RandomState(4).randint(0, 256, (45, 45, 3), dtype=np.uint8)]
    theirs = transformers.ViltImageProcessorPil(**options)(batch, return_tensors="np")
    ours = keras_tfm.ViltImageProcessor(**options)(batch, return_tensors="np")
    for key in ("pixel_values", "pixel_mask"):
        assert ours[key].dtype == theirs[key].dtype
        np.testing.assert_array_equal(ours[key], theirs[key])
    alone = keras_tfm.ViltImageProcessor(**options)(batch[1], return_tensors="np")
    assert alone["pixel_mask"].min() == 1  # a batch of one needs no padding


def test_processor_folders_both_ways(folders, inputs, tmp_path):
    ours = keras_tfm.AutoProcessor.from_pretrained(folders["root"] / "processor")
    assert type(ours).__name__ == "ViltProcessor"
    assert type(ours.image_processor).__name__ == "ViltImageProcessor"
    batch = ours(images(), QUESTIONS, padding=True, return_tensors="np")
    assert sorted(batch.keys()) == sorted(inputs.keys())
    for key, value in inputs.items():
        np.testing.assert_array_equal(np.asarray(batch[key]), value)
    ours.save_pretrained(tmp_path)
    hf = transformers.AutoProcessor.from_pretrained(tmp_path)
    assert type(hf).__name__ == "ViltProcessor"
    again = hf(images=images(), text=QUESTIONS, padding=True, return_tensors="np")
    for key, value in inputs.items():
        np.testing.assert_array_equal(np.asarray(again[key]), value)
