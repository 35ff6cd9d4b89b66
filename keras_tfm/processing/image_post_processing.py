"""Post-processing of vision models' outputs into boxes, labels and masks, as HF's image processors.

``DetrPostProcessing`` (object detection, semantic / instance / panoptic segmentation of DETR's
outputs) and ``SemanticSegmentationPostProcessing`` (SegFormer's logits) are mixins of the image
processors (``DetrImageProcessor``, ``SegformerImageProcessor``).
"""


class SemanticSegmentationPostProcessing:
    """``post_process_semantic_segmentation`` of per-pixel logits (B, labels, h, w)."""


class DetrPostProcessing:
    """``post_process_object_detection``, ``post_process_semantic_segmentation``,
    ``post_process_instance_segmentation`` and ``post_process_panoptic_segmentation`` of DETR's
    outputs (``logits``, ``pred_boxes``, ``pred_masks``)."""
