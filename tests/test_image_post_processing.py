"""Post-processing parity: the same random DETR / SegFormer outputs through HF 5's PIL image
processors' ``post_process_*`` (torch tensors) and ours (numpy arrays and backend tensors)."""

import keras
import numpy as np
import pytest
import torch
import transformers

from keras_tfm.modeling_outputs import SemanticSegmenterOutput
from keras_tfm.processing.image_post_processing import DetrPostProcessing, SemanticSegmentationPostProcessing
from keras_tfm.processing.interpolation import interpolate_bilinear

ATOL = 1e-5
BATCH, QUERIES, LABELS, MASK_H, MASK_W = 2, 12, 5, 10, 14
TARGET_SIZES = [(37, 51), (8, 20)]  # up and down, odd sizes


class _Detr(DetrPostProcessing):
    """A bare image processor holding only the mixin, until DetrImageProcessor lands."""


class _Segformer(SemanticSegmentationPostProcessing):
    pass


def _detr_outputs(seed=0):
    """Logits with confident queries (some no-object) and masks that overlap, so every path is taken."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(BATCH, QUERIES, LABELS + 1)).astype("float32")
    best = rng.integers(0, LABELS + 1, size=(BATCH, QUERIES))
    logits[np.arange(BATCH)[:, None], np.arange(QUERIES), best] += rng.uniform(0, 9, size=(BATCH, QUERIES))
    masks = rng.normal(size=(BATCH, QUERIES, MASK_H, MASK_W)).astype("float32") - 4
    for b in range(BATCH):  # each query's mask: a random rectangle, overlapping others
        for q in range(QUERIES):
            top, left = rng.integers(0, MASK_H - 2), rng.integers(0, MASK_W - 2)
            masks[b, q, top:top + rng.integers(2, MASK_H), left:left + rng.integers(2, MASK_W)] += 8
    boxes = rng.uniform(0.05, 0.95, size=(BATCH, QUERIES, 4)).astype("float32")
    return {"logits": logits, "pred_boxes": boxes, "pred_masks": masks}


def _hf(cls_name, outputs):
    processor = getattr(transformers, cls_name)()
    torch_outputs = transformers.utils.ModelOutput({k: torch.from_numpy(v) for k, v in outputs.items()})
    return processor, torch_outputs


def _as_backend(outputs):
    """Our inputs as the Keras backend's tensors (what a model returns)."""
    return {k: keras.ops.convert_to_tensor(v) for k, v in outputs.items()}


def _assert_map_equal(ours, theirs, min_equal=0.999):
    theirs = theirs.numpy()
    assert ours.shape == theirs.shape
    assert (ours == theirs).mean() >= min_equal, f"{(ours != theirs).sum()} of {ours.size} pixels differ"


def test_interpolate_bilinear_matches_torch():
    rng = np.random.default_rng(0)
    for shape, size in [((3, 8, 8), (37, 51)), ((2, 25, 17), (100, 64)), ((1, 32, 32), (16, 24)), ((4, 7, 9), (7, 9))]:
        x = rng.normal(size=shape).astype("float32")
        expected = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=size, mode="bilinear",
                                                   align_corners=False)[0].numpy()
        ours = interpolate_bilinear(x, size)
        assert ours.shape == expected.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, expected, atol=1e-6, rtol=0)  # a few ulps


@pytest.mark.parametrize("target_sizes", [None, TARGET_SIZES, "tensor"])
def test_object_detection(target_sizes):
    outputs = _detr_outputs()
    processor, torch_outputs = _hf("DetrImageProcessorPil", outputs)
    hf_sizes = torch.tensor(TARGET_SIZES) if target_sizes == "tensor" else target_sizes
    our_sizes = np.array(TARGET_SIZES) if target_sizes == "tensor" else target_sizes
    expected = processor.post_process_object_detection(torch_outputs, threshold=0.3, target_sizes=hf_sizes)
    ours = _Detr().post_process_object_detection(_as_backend(outputs), threshold=0.3, target_sizes=our_sizes)
    assert len(ours) == BATCH and sum(len(r["scores"]) for r in ours) > 2
    for mine, theirs in zip(ours, expected):
        assert sorted(mine) == sorted(theirs)
        np.testing.assert_array_equal(mine["labels"], theirs["labels"].numpy())
        np.testing.assert_allclose(mine["scores"], theirs["scores"].numpy(), atol=ATOL, rtol=0)
        np.testing.assert_allclose(mine["boxes"], theirs["boxes"].numpy(), atol=ATOL, rtol=0)


def test_object_detection_bad_target_sizes():
    with pytest.raises(ValueError, match="as many target sizes"):
        _Detr().post_process_object_detection(_detr_outputs(), target_sizes=[(10, 10)])
    with pytest.raises(ValueError, match="pred_boxes"):
        _Detr().post_process_object_detection({"logits": _detr_outputs()["logits"]})


@pytest.mark.parametrize("target_sizes", [None, TARGET_SIZES])
def test_detr_semantic_segmentation(target_sizes):
    outputs = _detr_outputs(1)
    processor, torch_outputs = _hf("DetrImageProcessorPil", outputs)
    expected = processor.post_process_semantic_segmentation(torch_outputs, target_sizes=target_sizes,
                                                            return_segmentation_scores=True)
    ours = _Detr().post_process_semantic_segmentation(outputs, target_sizes=target_sizes,
                                                      return_segmentation_scores=True)
    for mine, theirs in zip(ours, expected):
        _assert_map_equal(mine["segmentation"], theirs["segmentation"])
        np.testing.assert_allclose(mine["segmentation_scores"], theirs["segmentation_scores"].numpy(), atol=ATOL)
    plain = _Detr().post_process_semantic_segmentation(outputs, target_sizes=target_sizes)
    np.testing.assert_array_equal(plain[0], ours[0]["segmentation"])


@pytest.mark.parametrize("target_sizes", [None, TARGET_SIZES])
def test_segformer_semantic_segmentation(target_sizes):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(BATCH, LABELS, 9, 11)).astype("float32")
    processor = transformers.SegformerImageProcessorPil()
    expected = processor.post_process_semantic_segmentation(
        transformers.utils.ModelOutput(logits=torch.from_numpy(logits)), target_sizes=target_sizes)
    ours = _Segformer().post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=keras.ops.convert_to_tensor(logits)), target_sizes=target_sizes)
    assert len(ours) == BATCH
    for mine, theirs in zip(ours, expected):
        _assert_map_equal(mine, theirs)


def _assert_segments_equal(ours, expected):
    assert len(ours) == len(expected) == BATCH
    for mine, theirs in zip(ours, expected):
        assert mine["segments_info"] == theirs["segments_info"]
        _assert_map_equal(mine["segmentation"], theirs["segmentation"])


@pytest.mark.parametrize("target_sizes", [None, TARGET_SIZES])
def test_panoptic_segmentation(target_sizes):
    outputs = _detr_outputs(3)
    processor, torch_outputs = _hf("DetrImageProcessorPil", outputs)
    options = dict(threshold=0.3, mask_threshold=0.4, overlap_mask_area_threshold=0.5, target_sizes=target_sizes)
    expected = processor.post_process_panoptic_segmentation(torch_outputs, label_ids_to_fuse={1, 2}, **options)
    ours = _Detr().post_process_panoptic_segmentation(_as_backend(outputs), label_ids_to_fuse={1, 2}, **options)
    _assert_segments_equal(ours, expected)
    assert any(s["was_fused"] for r in ours for s in r["segments_info"])
    assert sum(len(r["segments_info"]) for r in ours) >= 4


@pytest.mark.parametrize("target_sizes", [None, TARGET_SIZES])
def test_instance_segmentation(target_sizes):
    outputs = _detr_outputs(4)
    processor, torch_outputs = _hf("DetrImageProcessorPil", outputs)
    options = dict(threshold=0.3, mask_threshold=0.4, overlap_mask_area_threshold=0.5, target_sizes=target_sizes)
    expected = processor.post_process_instance_segmentation(torch_outputs, **options)
    ours = _Detr().post_process_instance_segmentation(outputs, **options)
    _assert_segments_equal(ours, expected)
    assert sum(len(r["segments_info"]) for r in ours) >= 4
    rle = _Detr().post_process_instance_segmentation(outputs, return_coco_annotation=True, **options)
    rle_expected = processor.post_process_instance_segmentation(torch_outputs, return_coco_annotation=True, **options)
    for mine, theirs in zip(rle, rle_expected):
        assert [list(map(int, r)) for r in mine["segmentation"]] == [list(map(int, r)) for r in theirs["segmentation"]]
    binary = _Detr().post_process_instance_segmentation(outputs, return_binary_maps=True, **options)
    for mine, maps in zip(ours, binary):
        assert maps["segmentation"].shape[0] == len(mine["segments_info"])
        for segment, binary_map in zip(mine["segments_info"], maps["segmentation"]):
            np.testing.assert_array_equal(binary_map, mine["segmentation"] == segment["id"])


def test_segmentation_without_segments():
    """No query above the threshold: a map of -1 at the target size and no segments, as HF."""
    outputs = _detr_outputs(5)
    processor, torch_outputs = _hf("DetrImageProcessorPil", outputs)
    for method in ("post_process_panoptic_segmentation", "post_process_instance_segmentation"):
        expected = getattr(processor, method)(torch_outputs, threshold=1.0, target_sizes=TARGET_SIZES)
        ours = getattr(_Detr(), method)(outputs, threshold=1.0, target_sizes=TARGET_SIZES)
        for mine, theirs in zip(ours, expected):
            assert mine["segments_info"] == theirs["segments_info"] == []
            np.testing.assert_array_equal(mine["segmentation"], theirs["segmentation"].numpy())
