"""``image-segmentation``: a mask (a PIL image), a label and a score for each segment of an image."""

import numpy as np

from keras_tfm.pipelines.text_classification import label_name
from keras_tfm.pipelines.vision_base import ImagePipeline
from keras_tfm.processing.image_utils import require_pil

SUBTASKS = ("panoptic", "instance", "semantic")


class ImageSegmentationPipeline(ImagePipeline):
    """Segments images with DETR's panoptic head (``DetrForSegmentation``) or a semantic segmentation
    model (SegFormer), through the image processor's ``post_process_*_segmentation``.

    Example:
        >>> segmenter = pipeline("image-segmentation", model="facebook/detr-resnet-50-panoptic")
        >>> segments = segmenter("parrots.png")
        >>> segments[0]["label"], segments[0]["mask"].size
        ('bird', (768, 512))

    Call arguments: ``subtask`` ("panoptic", "instance" or "semantic"; by default the first of
    them the image processor can post-process), ``threshold`` (0.9: the least class probability
    of a kept segment), ``mask_threshold`` (0.5: binarizes the masks),
    ``overlap_mask_area_threshold`` (0.5: drops segments mostly covered by others), ``timeout``.
    Each result is ``{"score", "label", "mask"}``, the mask an "L" image of 0 / 255 at the
    image's size; semantic segments have score None.
    """

    output_keys = ("logits", "pred_masks", "pred_boxes")

    def _sanitize_parameters(self, subtask=None, threshold=None, mask_threshold=None,
                             overlap_mask_area_threshold=None, timeout=None):
        if subtask is not None and subtask not in SUBTASKS:
            raise ValueError(f"subtask={subtask!r} is not one of {SUBTASKS} (or None for the model's first).")
        preprocess = {"timeout": timeout} if timeout is not None else {}
        given = {"subtask": subtask, "threshold": threshold, "mask_threshold": mask_threshold,
                 "overlap_mask_area_threshold": overlap_mask_area_threshold}
        return preprocess, {}, {name: value for name, value in given.items() if value is not None}

    def postprocess(self, outputs, subtask=None, threshold=0.9, mask_threshold=0.5, overlap_mask_area_threshold=0.5):
        processor = self.image_processor
        batch = self.batched(outputs, self.output_keys)
        target_sizes = [outputs["target_size"]]
        id2label = self.model.config.id2label
        for name in SUBTASKS[:2]:
            if subtask in (name, None) and hasattr(processor, f"post_process_{name}_segmentation"):
                result = getattr(processor, f"post_process_{name}_segmentation")(
                    batch, threshold=threshold, mask_threshold=mask_threshold,
                    overlap_mask_area_threshold=overlap_mask_area_threshold, target_sizes=target_sizes)[0]
                segmentation = np.asarray(result["segmentation"])
                return [{"score": segment["score"], "label": label_name(id2label, segment["label_id"]),
                         "mask": mask_image(segmentation == segment["id"])}
                        for segment in result["segments_info"]]
        if subtask in ("semantic", None) and hasattr(processor, "post_process_semantic_segmentation"):
            segmentation = np.asarray(processor.post_process_semantic_segmentation(batch, target_sizes=target_sizes)[0])
            return [{"score": None, "label": label_name(id2label, int(label)), "mask": mask_image(segmentation == label)}
                    for label in np.unique(segmentation)]
        raise ValueError(f"Subtask {subtask} is not supported for model {type(self.model).__name__} (its image "
                         f"processor {type(processor).__name__} has no post_process_{subtask}_segmentation).")


def mask_image(mask):
    """A boolean (height, width) mask -> an "L" PIL image, 255 on the mask and 0 elsewhere."""
    return require_pil().Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255)  # 2-D uint8: mode "L"
