"""Vision pipelines: parity with HF 5's ``transformers.pipeline`` (PIL image processors) on the same tiny
random models (saved by HF, loaded by us) and images; inputs (paths, arrays, lists, generators, datasets),
batching of differently sized images, and bad input."""

import base64
import functools

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from keras_tfm.pipelines import KeyDataset, infer_task, pipeline
from keras_tfm.registry import MODELS

ATOL = 1e-4
LABELS = 5
SIZES = [(45, 31), (40, 64), (33, 33)]  # (height, width): portrait, landscape, square


def _registered(auto_name, model_type):
    return model_type in MODELS.get(auto_name, {})


def _needs(auto_name, model_type):
    return pytest.mark.skipif(not _registered(auto_name, model_type),
                              reason=f"keras_tfm has no {model_type} model for {auto_name} in this checkout")


def _labels(prefix, n):
    return {"id2label": {i: f"{prefix}{i}" for i in range(n)}, "label2id": {f"{prefix}{i}": i for i in range(n)}}


def _detr_config(**kwargs):
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                                         layer_type="basic", out_features=["stage1", "stage2", "stage3", "stage4"])
    # d_model + heads a multiple of 8: the mask head's group norms
    return transformers.DetrConfig(backbone_config=backbone, use_timm_backbone=False, d_model=32, encoder_layers=1,
                                   decoder_layers=1, encoder_attention_heads=8, decoder_attention_heads=8,
                                   encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10, **kwargs)


def _sharpened_detr_segmentation():
    """A random DETR's queries are alike and its masks flat (one segment, the whole image): sharper
    queries, attention and mask logits give segments that cover part of the image."""
    model = transformers.DetrForSegmentation(_detr_config(**_labels("thing_", 4)))
    with torch.no_grad():
        model.detr.model.query_position_embeddings.weight.normal_(0, 5)
        cross_attention = model.detr.model.decoder.layers[0].encoder_attn
        cross_attention.q_proj.weight.mul_(10)
        cross_attention.k_proj.weight.mul_(10)
        model.bbox_attention.q_proj.weight.mul_(7)
        model.mask_head.output_conv.weight.mul_(5)
        model.detr.class_labels_classifier.weight.normal_(0, 0.5)
        model.detr.class_labels_classifier.bias.zero_()
    return model


def _save(root, model, processor):
    model.eval().save_pretrained(root)
    processor.save_pretrained(root)
    return str(root)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("vision_pipelines")
    torch.manual_seed(0)
    vit = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32, initializer_range=0.5,
                                 **_labels("class_", LABELS))
    segformer = transformers.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                                             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
                                             mlp_ratios=[2, 2], decoder_hidden_size=16, initializer_range=0.5,
                                             **_labels("region_", 4))
    fixed = {"height": 32, "width": 48}  # one input shape: one compilation per backend
    return {
        "vit": _save(base / "vit", transformers.ViTForImageClassification(vit),
                     transformers.ViTImageProcessorPil(size={"height": 32, "width": 32})),
        "detr": _save(base / "detr", transformers.DetrForObjectDetection(_detr_config(**_labels("object_", 4))),
                      transformers.DetrImageProcessorPil(size=fixed)),
        "detr_panoptic": _save(base / "detr_panoptic", _sharpened_detr_segmentation(),
                               transformers.DetrImageProcessorPil(size=fixed)),
        "segformer": _save(base / "segformer", transformers.SegformerForSemanticSegmentation(segformer),
                           transformers.SegformerImageProcessorPil(size={"height": 32, "width": 32})),
    }


@pytest.fixture(scope="module")
def pipes(folders):
    """``pipes(library, task, folder)``: HF's ("hf") or our ("ours") pipeline, built once per module."""
    cache = {}

    def get(library, task, folder):
        key = (library, task, folder)
        if key not in cache:
            build = transformers.pipeline if library == "hf" else pipeline
            cache[key] = build(task, model=folders[folder])
        return cache[key]

    return get


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    out = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in SIZES]
    out.append(Image.fromarray(rng.integers(0, 256, (30, 50), dtype=np.uint8), mode="L"))
    return out


@pytest.fixture(scope="module")
def image_path(tmp_path_factory, images):
    path = tmp_path_factory.mktemp("images") / "landscape.png"
    images[1].save(path)
    return str(path)


# ---------------------------------------------------------------------- helpers


def _assert_classes_equal(ours, theirs):
    assert [r["label"] for r in ours] == [r["label"] for r in theirs]
    np.testing.assert_allclose([r["score"] for r in ours], [r["score"] for r in theirs], atol=ATOL, rtol=0)


def _assert_detections_equal(ours, theirs):
    assert len(ours) == len(theirs) > 0
    assert [r["label"] for r in ours] == [r["label"] for r in theirs]
    np.testing.assert_allclose([r["score"] for r in ours], [r["score"] for r in theirs], atol=ATOL, rtol=0)
    assert [r["box"] for r in ours] == [r["box"] for r in theirs]
    for r in ours:
        assert all(isinstance(v, int) for v in r["box"].values())


def _assert_segments_equal(ours, theirs):
    assert len(ours) == len(theirs) > 0
    for mine, expected in zip(ours, theirs):
        assert mine["label"] == expected["label"]
        if expected["score"] is None:
            assert mine["score"] is None
        else:
            assert abs(mine["score"] - expected["score"]) <= ATOL
        assert mine["mask"].mode == "L" and mine["mask"].size == expected["mask"].size
        assert (np.asarray(mine["mask"]) == np.asarray(expected["mask"])).mean() >= 0.995


# ---------------------------------------------------------------------- image-classification


@_needs("AutoModelForImageClassification", "vit")
@pytest.mark.parametrize("kwargs", [{}, {"top_k": 2}, {"top_k": 9}, {"function_to_apply": "sigmoid"},
                                    {"function_to_apply": "NONE", "top_k": 3}])
def test_image_classification_parity(pipes, images, kwargs):
    theirs = pipes("hf", "image-classification", "vit")(images, **kwargs)
    ours = pipes("ours", "image-classification", "vit")(images, **kwargs)
    assert len(ours) == len(images)
    for mine, expected in zip(ours, theirs):
        _assert_classes_equal(mine, expected)
    assert len(ours[0]) == min(kwargs.get("top_k", 5), LABELS)
    assert len({r["label"] for r in ours[0]}) == len(ours[0])


@_needs("AutoModelForImageClassification", "vit")
def test_image_classification_inputs(pipes, images, image_path):
    """A path, a PIL image, an array, a base64 string; lists, generators, datasets and their columns; batching."""
    import datasets

    classify = functools.partial(pipes("ours", "image-classification", "vit"), top_k=2)
    expected = classify(Image.open(image_path))
    assert classify(image_path) == classify(images[1]) == classify(images=image_path) == expected
    _assert_classes_equal(classify(np.asarray(images[1])), expected)
    with open(image_path, "rb") as f:
        _assert_classes_equal(classify(base64.b64encode(f.read()).decode()), expected)
    one_by_one = [classify(image) for image in images]
    batched = classify(images, batch_size=3)
    assert len(batched) == len(images)
    for mine, single in zip(batched, one_by_one):
        _assert_classes_equal(mine, single)
    stream = classify(image for image in images)
    assert not isinstance(stream, list)
    for mine, single in zip(stream, one_by_one):
        _assert_classes_equal(mine, single)
    dataset = datasets.Dataset.from_dict({"image": images, "label": list(range(len(images)))})
    dataset = dataset.cast_column("image", datasets.Image())
    for inputs in (dataset, dataset["image"], KeyDataset(dataset, "image")):
        results = list(classify(inputs, batch_size=2))
        assert len(results) == len(images)
        for mine, single in zip(results, one_by_one):
            _assert_classes_equal(mine, single)


@_needs("AutoModelForImageClassification", "vit")
def test_image_pipeline_bad_input(pipes, tmp_path):
    classify = pipes("ours", "image-classification", "vit")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt"):
        classify(str(text_file))
    with pytest.raises(ValueError, match="missing.png"):
        classify(str(tmp_path / "missing.png"))
    with pytest.raises(OSError, match="127.0.0.1"):
        classify("http://127.0.0.1:9/parrots.png", timeout=2)
    with pytest.raises(ValueError, match="int"):
        classify(3)
    with pytest.raises(ValueError, match="empty"):
        classify(Image.new("RGB", (0, 4)))
    with pytest.raises(ValueError, match="top_k"):
        classify(Image.new("RGB", (8, 8)), top_k=0)
    with pytest.raises(ValueError, match="function_to_apply"):
        classify(Image.new("RGB", (8, 8)), function_to_apply="tanh")
    with pytest.raises(ValueError, match="image"):
        classify({"a": 1, "b": 2})


# ---------------------------------------------------------------------- object-detection


@_needs("AutoModelForObjectDetection", "detr")
@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_object_detection_parity(pipes, images, threshold):
    theirs = pipes("hf", "object-detection", "detr")(images, threshold=threshold)
    ours = pipes("ours", "object-detection", "detr")(images, threshold=threshold)
    assert len(ours) == len(images)
    if threshold == 0.0:
        for mine, expected in zip(ours, theirs):
            _assert_detections_equal(mine, expected)
    else:
        for mine, expected in zip(ours, theirs):
            assert [r["label"] for r in mine] == [r["label"] for r in expected]
            assert all(r["score"] > threshold for r in mine)


@_needs("AutoModelForObjectDetection", "detr")
def test_object_detection_array_inputs(pipes, images):
    """Arrays (channels last or first) give the boxes of the image, in its pixels."""
    detect = functools.partial(pipes("ours", "object-detection", "detr"), threshold=0.0)
    expected = detect(images[0])
    array = np.asarray(images[0])
    assert detect(array) == detect(np.moveaxis(array, -1, 0)) == expected


@_needs("AutoModelForObjectDetection", "detr")
def test_object_detection_batches_images_of_different_sizes(folders, pipes, images, tmp_path):
    """Images kept at their aspect ratio and padded in a batch, with pixel_mask: as HF's model on HF's batch."""
    folder = folders["detr"]
    hf_processor = transformers.DetrImageProcessorPil(size={"shortest_edge": 32, "longest_edge": 48})
    hf_processor.save_pretrained(tmp_path)
    ours_default = pipes("ours", "object-detection", "detr")
    detect = pipeline("object-detection", model=ours_default.model, image_processor=str(tmp_path), batch_size=2)
    assert type(detect.image_processor) is type(ours_default.image_processor)
    ours = detect(images[:2], threshold=0.0)
    model = transformers.DetrForObjectDetection.from_pretrained(folder).eval()
    inputs = hf_processor(images[:2], return_tensors="pt")
    assert inputs["pixel_values"].shape[-2:] != (32, 48) or not bool(inputs["pixel_mask"].all())
    with torch.no_grad():
        outputs = model(**inputs)
    sizes = [(image.height, image.width) for image in images[:2]]
    expected = hf_processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)
    for mine, theirs in zip(ours, expected):
        assert [r["label"] for r in mine] == [model.config.id2label[int(i)] for i in theirs["labels"]]
        np.testing.assert_allclose([r["score"] for r in mine], theirs["scores"].numpy(), atol=ATOL)
        boxes = np.array([[r["box"][k] for k in ("xmin", "ymin", "xmax", "ymax")] for r in mine])
        np.testing.assert_allclose(boxes, theirs["boxes"].numpy(), atol=1.0)  # ints truncated from the floats


# ---------------------------------------------------------------------- image-segmentation


@_needs("AutoModelForImageSegmentation", "detr")
@pytest.mark.parametrize("subtask", [None, "panoptic", "instance", "semantic"])
def test_detr_segmentation_parity(pipes, images, subtask):
    kwargs = {"threshold": 0.3, "mask_threshold": 0.4, "overlap_mask_area_threshold": 0.3}
    if subtask:
        kwargs["subtask"] = subtask
    theirs = pipes("hf", "image-segmentation", "detr_panoptic")(images, **kwargs)
    ours = pipes("ours", "image-segmentation", "detr_panoptic")(images, **kwargs)
    assert len(ours) == len(images)
    for mine, expected, image in zip(ours, theirs, images):
        _assert_segments_equal(mine, expected)
        assert mine[0]["mask"].size == image.size
    if subtask != "semantic":  # segments that cover part of the image: the masks are compared for real
        assert any(0 < np.asarray(r["mask"]).mean() < 250 for result in ours for r in result)


@_needs("AutoModelForSemanticSegmentation", "segformer")
def test_segformer_segmentation_parity(pipes, images):
    theirs = pipes("hf", "image-segmentation", "segformer")(images)
    segment = pipes("ours", "image-segmentation", "segformer")
    ours = segment(images)
    for mine, expected in zip(ours, theirs):
        _assert_segments_equal(mine, expected)
    assert len({r["label"] for r in ours[0]}) > 1
    with pytest.raises(ValueError, match="panoptic"):
        segment(images[0], subtask="panoptic")
    with pytest.raises(ValueError, match="subtask"):
        segment(images[0], subtask="amodal")


def test_mask_image_is_binary_l():
    from keras_tfm.pipelines.image_segmentation import mask_image

    mask = mask_image(np.eye(3, dtype=bool))
    assert mask.mode == "L" and mask.size == (3, 3)
    np.testing.assert_array_equal(np.asarray(mask), np.eye(3, dtype=np.uint8) * 255)


def test_task_inferred_from_the_folder(folders):
    expected = {"vit": "image-classification", "detr": "object-detection", "detr_panoptic": "image-segmentation",
                "segformer": "image-segmentation"}
    assert {name: infer_task(folders[name], None, {}) for name in expected} == expected
