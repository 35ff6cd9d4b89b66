"""Post-processing of vision models' outputs into boxes, labels and masks, as HF's image processors.

``DetrPostProcessing`` (object detection, semantic / instance / panoptic segmentation of DETR's
outputs) and ``SemanticSegmentationPostProcessing`` (SegFormer's logits) are mixins of the image
processors (``DetrImageProcessor``, ``SegformerImageProcessor``).

Everything runs in numpy, whatever the Keras backend: the model outputs may be backend tensors
or numpy arrays, and the results hold numpy arrays where Hugging Face's hold torch tensors
(same values, shapes and keys). Masks are resized with PyTorch's bilinear interpolation
(``keras_tfm.processing.interpolation``).
"""

import logging

import numpy as np

from keras_tfm.processing.batch import BatchFeature, to_numpy
from keras_tfm.processing.interpolation import interpolate_bilinear

logger = logging.getLogger(__name__)


_WARNED = set()


def _warn_once(message):
    if message not in _WARNED:
        _WARNED.add(message)
        logger.warning(message)


def _output(outputs, name):
    """``outputs.<name>`` (a model output) or ``outputs[name]`` (a dict) as a float32 numpy array."""
    value = outputs.get(name) if isinstance(outputs, dict) else getattr(outputs, name, None)
    if value is None:
        raise ValueError(f"The model outputs have no {name!r} (got {type(outputs).__name__}); post-processing needs it.")
    return to_numpy(value).astype(np.float32, copy=False)


def _target_sizes(target_sizes, batch_size):
    """``target_sizes`` (a list of (height, width), or an array / tensor (B, 2)) as a list of int pairs."""
    if target_sizes is None:
        return None
    sizes = [tuple(int(v) for v in to_numpy(size).reshape(-1)) for size in target_sizes]
    if len(sizes) != batch_size:
        raise ValueError(
            f"Make sure that you pass in as many target sizes as the batch dimension of the logits: got "
            f"{len(sizes)} target sizes for a batch of {batch_size}."
        )
    if any(len(size) != 2 for size in sizes):
        raise ValueError(f"Each target size is (height, width); got {sizes}.")
    return sizes


def _softmax(x):
    x = np.exp(x - x.max(axis=-1, keepdims=True))
    return x / x.sum(axis=-1, keepdims=True)


def _sigmoid(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def center_to_corners_format(boxes):
    """(center_x, center_y, width, height) -> (top_left_x, top_left_y, bottom_right_x, bottom_right_y)."""
    cx, cy, w, h = np.moveaxis(boxes, -1, 0)
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def _semantic_maps(scores, target_sizes, return_segmentation_scores):
    """Per-pixel class scores (B, classes, h, w) -> one class map per image (resized to its target size)."""
    results = []
    for i, image_scores in enumerate(scores):
        if target_sizes is not None:
            image_scores = interpolate_bilinear(image_scores, target_sizes[i])
        segmentation = image_scores.argmax(axis=0)
        results.append(BatchFeature({"segmentation": segmentation, "segmentation_scores": image_scores})
                       if return_segmentation_scores else segmentation)
    return results


class SemanticSegmentationPostProcessing:
    """``post_process_semantic_segmentation`` of per-pixel logits (B, labels, h, w), as SegFormer's."""

    def post_process_semantic_segmentation(self, outputs, target_sizes=None, return_segmentation_scores=False):
        """Class maps from the ``logits`` of a semantic segmentation model.

        Args:
            outputs: the model's outputs (``logits`` (B, num_labels, h, w)).
            target_sizes: (height, width) of each image to resize the logits to (bilinear, as
                HF); None keeps the logits' size.
            return_segmentation_scores: also return the (resized) logits.

        Returns:
            A list of (height, width) int64 numpy arrays of class ids, one per image; with
            ``return_segmentation_scores``, a list of ``BatchFeature`` with ``segmentation`` and
            ``segmentation_scores`` (num_labels, height, width).
        """
        logits = _output(outputs, "logits")
        return _semantic_maps(logits, _target_sizes(target_sizes, len(logits)), return_segmentation_scores)


class DetrPostProcessing:
    """``post_process_object_detection``, ``post_process_semantic_segmentation``,
    ``post_process_instance_segmentation`` and ``post_process_panoptic_segmentation`` of DETR's
    outputs (``logits``, ``pred_boxes``, ``pred_masks``)."""

    def post_process_object_detection(self, outputs, threshold=0.5, target_sizes=None):
        """Boxes in (top_left_x, top_left_y, bottom_right_x, bottom_right_y) format from DETR's outputs.

        Args:
            outputs: ``logits`` (B, queries, labels + 1) and ``pred_boxes`` (B, queries, 4), boxes
                as (center_x, center_y, width, height) relative to the image.
            threshold: keep the queries whose best class probability (no-object left out) is above it.
            target_sizes: (height, width) of each image, to scale the boxes to pixels; None
                keeps them relative.

        Returns:
            A list, one dict per image, of numpy arrays: ``scores`` (n,), ``labels`` (n,) and
            ``boxes`` (n, 4).
        """
        logits, boxes = _output(outputs, "logits"), _output(outputs, "pred_boxes")
        sizes = _target_sizes(target_sizes, len(logits))
        probs = _softmax(logits)[..., :-1]
        labels, scores = probs.argmax(-1), probs.max(-1)
        boxes = center_to_corners_format(boxes)
        if sizes is not None:
            height, width = np.asarray(sizes, np.float32).T
            boxes = boxes * np.stack([width, height, width, height], axis=1)[:, None, :]
        results = []
        for s, l, b in zip(scores, labels, boxes):
            keep = s > threshold
            results.append({"scores": s[keep], "labels": l[keep], "boxes": b[keep]})
        return results

    def post_process_semantic_segmentation(self, outputs, target_sizes=None, return_segmentation_scores=False):
        """Class maps from ``DetrForSegmentation``'s outputs: each query's mask weighed by its class probabilities.

        Args:
            outputs: ``logits`` (B, queries, labels + 1) and ``pred_masks`` (B, queries, h, w).
            target_sizes: (height, width) of each image; None keeps the masks' size.
            return_segmentation_scores: also return the per-class scores.

        Returns:
            A list of (height, width) int64 numpy arrays of class ids (or of ``BatchFeature`` with
            ``segmentation`` and ``segmentation_scores`` (labels, height, width)).
        """
        logits, masks = _output(outputs, "logits"), _output(outputs, "pred_masks")
        classes = _softmax(logits)[..., :-1]  # (B, Q, C)
        scores = np.einsum("bqc,bqhw->bchw", classes, _sigmoid(masks)).astype(np.float32)
        return _semantic_maps(scores, _target_sizes(target_sizes, len(logits)), return_segmentation_scores)

    def post_process_instance_segmentation(self, outputs, threshold=0.5, mask_threshold=0.5,
                                           overlap_mask_area_threshold=0.8, target_sizes=None,
                                           return_coco_annotation=False, return_binary_maps=False):
        """Instance masks from ``DetrForSegmentation``'s outputs.

        Args:
            outputs: ``logits`` (B, queries, labels + 1) and ``pred_masks`` (B, queries, h, w).
            threshold: keep the queries whose class probability is above it (and not no-object).
            mask_threshold: a pixel belongs to a mask when its (score-weighed) probability is at least this.
            overlap_mask_area_threshold: drop a segment when less than this share of its mask is
                left after overlaps are resolved.
            target_sizes: (height, width) of each image; None keeps the masks' size.
            return_coco_annotation: return each segmentation as COCO run-length encodings.
            return_binary_maps: return each segmentation as binary maps (segments, height, width),
                one per entry of ``segments_info`` (as Mask2Former's post-processing).

        Returns:
            A list, one dict per image: ``segmentation`` ((height, width) int32 numpy array of
            segment ids, -1 where no segment is, or what the flags above ask for) and
            ``segments_info`` (dicts ``id``, ``label_id``, ``was_fused``, ``score``).
        """
        if return_coco_annotation and return_binary_maps:
            raise ValueError("return_coco_annotation and return_binary_maps cannot both be set to True.")
        results = self._segments(outputs, threshold, mask_threshold, overlap_mask_area_threshold, (), target_sizes)
        for result in results:
            if return_coco_annotation:
                result["segmentation"] = convert_segmentation_to_rle(result["segmentation"])
            elif return_binary_maps:
                segmentation = result["segmentation"]
                ids = np.array([segment["id"] for segment in result["segments_info"]], dtype=np.int32)
                result["segmentation"] = (segmentation[None] == ids[:, None, None]).astype(np.int32)
        return results

    def post_process_panoptic_segmentation(self, outputs, threshold=0.5, mask_threshold=0.5,
                                           overlap_mask_area_threshold=0.8, label_ids_to_fuse=None,
                                           target_sizes=None):
        """Panoptic segmentation from ``DetrForSegmentation``'s outputs.

        Args:
            outputs: ``logits`` (B, queries, labels + 1) and ``pred_masks`` (B, queries, h, w).
            threshold, mask_threshold, overlap_mask_area_threshold: as
                ``post_process_instance_segmentation``.
            label_ids_to_fuse: labels whose instances become one segment (the "stuff" classes: sky, road).
            target_sizes: (height, width) of each image; None keeps the masks' size.

        Returns:
            A list, one dict per image: ``segmentation`` ((height, width) int32 numpy array of
            segment ids, -1 where no segment is) and ``segments_info`` (dicts ``id``,
            ``label_id``, ``was_fused``, ``score``).
        """
        if label_ids_to_fuse is None:
            _warn_once("`label_ids_to_fuse` unset. No instance will be fused.")
            label_ids_to_fuse = set()
        return self._segments(outputs, threshold, mask_threshold, overlap_mask_area_threshold, label_ids_to_fuse,
                              target_sizes)

    def _segments(self, outputs, threshold, mask_threshold, overlap_mask_area_threshold, label_ids_to_fuse,
                  target_sizes):
        logits, masks = _output(outputs, "logits"), _output(outputs, "pred_masks")
        sizes = _target_sizes(target_sizes, len(logits))
        num_labels = logits.shape[-1] - 1
        probs = _softmax(logits)
        pred_labels, pred_scores = probs.argmax(-1), probs.max(-1)
        mask_probs = _sigmoid(masks)
        results = []
        for i in range(len(logits)):
            keep = (pred_labels[i] != num_labels) & (pred_scores[i] > threshold)
            size = sizes[i] if sizes is not None else masks.shape[2:]
            if not keep.any():
                results.append({"segmentation": np.full(size, -1, dtype=np.int32), "segments_info": []})
                continue
            segmentation, segments = compute_segments(
                mask_probs[i][keep], pred_scores[i][keep], pred_labels[i][keep], mask_threshold,
                overlap_mask_area_threshold, label_ids_to_fuse, None if sizes is None else sizes[i])
            results.append({"segmentation": segmentation, "segments_info": segments})
        return results


def compute_segments(mask_probs, pred_scores, pred_labels, mask_threshold=0.5, overlap_mask_area_threshold=0.8,
                     label_ids_to_fuse=(), target_size=None):
    """One image's segment map and segments from its kept queries, as HF's ``compute_segments``.

    Each pixel goes to the query whose score-weighed mask probability is highest there; a query
    keeps its segment when that area is more than ``overlap_mask_area_threshold`` of its own
    mask (probability >= ``mask_threshold``). Queries of a label in ``label_ids_to_fuse`` share
    one segment id.

    Returns:
        ``(segmentation, segments)``: a (height, width) int32 array of segment ids (0 where no
        segment is) and a list of dicts ``id``, ``label_id``, ``was_fused``, ``score``.
    """
    if target_size is not None:
        mask_probs = interpolate_bilinear(mask_probs, target_size)
    mask_probs = mask_probs * pred_scores[:, None, None].astype(np.float32)
    mask_labels = mask_probs.argmax(0)  # (height, width)
    segmentation = np.zeros(mask_labels.shape, dtype=np.int32)
    segments = []
    stuff_segment_ids = {}
    current_segment_id = 0
    for k, label in enumerate(int(label) for label in pred_labels):
        should_fuse = label in label_ids_to_fuse
        mask_k = mask_labels == k
        mask_area = mask_k.sum()
        original_area = (mask_probs[k] >= mask_threshold).sum()
        if not (mask_area > 0 and original_area > 0):
            continue
        # the area ratio in float32, as HF's torch division: 4 / 5 > 0.8 there
        if not float(np.float32(mask_area) / np.float32(original_area)) > overlap_mask_area_threshold:
            continue
        if label in stuff_segment_ids:
            current_segment_id = stuff_segment_ids[label]
        else:
            current_segment_id += 1
        segmentation[mask_k] = current_segment_id
        segments.append({"id": current_segment_id, "label_id": label, "was_fused": should_fuse,
                         "score": round(float(pred_scores[k]), 6)})
        if should_fuse:
            stuff_segment_ids[label] = current_segment_id
    return segmentation, segments


def binary_mask_to_rle(mask):
    """A binary (height, width) mask -> its COCO run-length encoding (a list of ints)."""
    pixels = np.concatenate([[0], np.asarray(mask).flatten(), [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return list(runs)


def convert_segmentation_to_rle(segmentation):
    """A segment map -> one run-length encoding per segment id (ids in increasing order)."""
    segmentation = np.asarray(segmentation)
    return [binary_mask_to_rle(np.where(segmentation == i, 1, 0)) for i in np.unique(segmentation)]
