"""``DetrImageProcessor``: shorter edge to 800 (longer at most 1333), normalize, pad the batch to its largest
image with a ``pixel_mask``; COCO detection / panoptic ``annotations`` become DETR's ``labels``."""

import pathlib

import numpy as np

from keras_tfm.processing import image_transforms as transforms
from keras_tfm.processing.batch import BatchFeature
from keras_tfm.processing.image_post_processing import DetrPostProcessing
from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.processing.image_processing_vit import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, STANDARD_OPTIONS
from keras_tfm.processing.image_utils import CHANNELS_FIRST, require_pil
from keras_tfm.registry import register_processor

COCO_DETECTION = "coco_detection"
COCO_PANOPTIC = "coco_panoptic"
NEAREST = 0


@register_processor("AutoImageProcessor", model_types=("detr",))
class DetrImageProcessor(DetrPostProcessing, BaseImageProcessor):
    """DETR's image processor, as ``transformers.DetrImageProcessorPil`` (``DetrFeatureExtractor`` in old folders).

    ``processor(images, annotations=None, return_segmentation_masks=None, masks_path=None,
    return_tensors=None)`` gives ``pixel_values``, ``pixel_mask`` (1 on image pixels, 0 on
    padding) and, with ``annotations``, ``labels``: one dict per image of ``class_labels``,
    ``boxes`` (normalized center x, center y, width, height), ``area``, ``iscrowd``,
    ``orig_size``, ``size``, ``image_id`` (and ``masks`` for panoptic annotations).

    Args:
        format: "coco_detection" (annotations: {"image_id", "annotations": [{"bbox", "category_id",
            "area", "iscrowd"}...]}) or "coco_panoptic" ({"image_id", "file_name", "segments_info"},
            with PNG masks under ``masks_path``).
        do_convert_annotations: boxes to normalized center format (defaults to ``do_normalize``).
        size: {"shortest_edge", "longest_edge"}, {"max_height", "max_width"} or {"height",
            "width"}; an int is the shorter edge, with ``max_size`` (1333) for the longer.
        do_pad / pad_size: pad to ``pad_size`` {"height", "width"}, else the batch's largest image.
        **kwargs: the options of ``BaseImageProcessor``.
    """

    model_input_names = ["pixel_values", "pixel_mask"]
    call_options = (*STANDARD_OPTIONS, "do_pad", "pad_size", "format", "do_convert_annotations")
    default_to_square = False
    do_convert_rgb = None
    do_resize = True
    size = {"shortest_edge": 800, "longest_edge": 1333}
    resample = 2  # bilinear
    do_center_crop = None
    crop_size = None
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_pad = True
    pad_size = None
    format = COCO_DETECTION
    do_convert_annotations = None

    def __init__(self, **kwargs):
        if "pad_and_return_pixel_mask" in kwargs:  # the old name of do_pad
            kwargs.setdefault("do_pad", kwargs.pop("pad_and_return_pixel_mask"))
        if kwargs.get("size") is not None:  # old configs: size (shorter edge) and max_size (longer edge)
            max_size = kwargs.pop("max_size", 1333)
            kwargs["size"] = transforms.get_size_dict(kwargs["size"], max_size=max_size, default_to_square=False)
        if kwargs.get("do_convert_annotations") is None:
            kwargs["do_convert_annotations"] = kwargs.get("do_normalize", self.do_normalize)
        super().__init__(**kwargs)

    def preprocess(self, images, annotations=None, return_segmentation_masks=None, masks_path=None,
                   return_tensors=None, input_data_format=None, data_format=CHANNELS_FIRST, **kwargs):
        """Processes images (and their COCO annotations) into a ``BatchFeature``.

        Args:
            images: an image or a batch (see ``BaseImageProcessor``).
            annotations: a COCO annotation dict, or one per image.
            return_segmentation_masks: add ``masks`` to the labels (panoptic: True by default).
            masks_path: the folder of the panoptic PNG masks.
            return_tensors, input_data_format, data_format, **kwargs: as ``BaseImageProcessor.preprocess``.
        """
        options = self.options_for_call(kwargs)
        images = self.prepare_images(images, options.get("do_convert_rgb"), input_data_format)
        if isinstance(annotations, dict):
            annotations = [annotations]
        if annotations is not None:
            if len(annotations) != len(images):
                raise ValueError(f"Got {len(images)} images but {len(annotations)} annotations: give one per image.")
            annotations = [self.prepare_annotation(image, annotation, options["format"], return_segmentation_masks,
                                                   masks_path, index)
                           for index, (image, annotation) in enumerate(zip(images, annotations))]
        data = self._preprocess(images, annotations=annotations, data_format=data_format, **options)
        labels = data.pop("labels", None)
        batch = BatchFeature(data, tensor_type=return_tensors)
        if labels is not None:
            batch["labels"] = [BatchFeature(label, tensor_type=return_tensors) for label in labels]
        return batch

    def _preprocess(self, images, *, annotations=None, data_format=CHANNELS_FIRST, **options):
        annotations = annotations or [None] * len(images)
        arrays, labels = [], []
        for index, (image, annotation) in enumerate(zip(images, annotations)):
            original_size = transforms.image_size(image, "channels_last")
            image = self.transform_image(index, image, options)
            if annotation is not None and options.get("do_resize"):
                annotation = resize_annotation(annotation, original_size, image.shape[:2])
            if annotation is not None and options.get("do_convert_annotations"):
                annotation = normalize_annotation(annotation, image.shape[:2])
            arrays.append(image)
            labels.append(annotation)
        padded_size = self.padded_size(arrays, options)
        data = {"pixel_values": self.pixel_values(arrays, options, padded_size, data_format)}
        if padded_size is not None:
            mask = np.zeros((len(arrays),) + tuple(padded_size), dtype=np.int64)
            for index, image in enumerate(arrays):
                mask[index, : image.shape[0], : image.shape[1]] = 1
                if labels[index] is not None and image.shape[:2] != tuple(padded_size):
                    labels[index] = pad_annotation(labels[index], image.shape[:2], padded_size,
                                                   options.get("do_convert_annotations"))
            data["pixel_mask"] = mask
        if annotations[0] is not None:
            data["labels"] = labels
        return data

    def prepare_annotation(self, image, target, format=None, return_segmentation_masks=None, masks_path=None,
                           index=0):
        """A COCO annotation of one image -> DETR's target dict (boxes in corners, pixels of ``image``)."""
        format = getattr(format, "value", format) or self.format
        size = transforms.image_size(image, "channels_last")
        if format == COCO_DETECTION:
            check_keys(target, ("image_id", "annotations"), format, index)
            return prepare_coco_detection_annotation(size, target, bool(return_segmentation_masks))
        if format == COCO_PANOPTIC:
            check_keys(target, ("image_id", "file_name", "segments_info"), format, index)
            if masks_path is None:
                raise ValueError("coco_panoptic annotations need masks_path: the folder of their PNG masks.")
            return prepare_coco_panoptic_annotation(size, target, masks_path, return_segmentation_masks is not False)
        raise ValueError(f"format={format!r} is not supported; use {COCO_DETECTION!r} or {COCO_PANOPTIC!r}.")


@register_processor("AutoFeatureExtractor")
class DetrFeatureExtractor(DetrImageProcessor):
    """The name old DETR folders give their image processor (``feature_extractor_type``)."""


def check_keys(target, keys, format, index):
    if not isinstance(target, dict) or any(key not in target for key in keys):
        found = sorted(target) if isinstance(target, dict) else type(target).__name__
        raise ValueError(f"Annotation {index} is not a {format} annotation: it needs keys {list(keys)}, got {found}.")


def prepare_coco_detection_annotation(image_size, target, return_segmentation_masks=False):
    """COCO detection annotations of an image (``bbox`` as x, y, width, height) -> DETR's target, as HF."""
    height, width = image_size
    objects = [obj for obj in target["annotations"] if obj.get("iscrowd", 0) == 0]
    boxes = np.asarray([obj["bbox"] for obj in objects], dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    boxes[:, 0::2] = boxes[:, 0::2].clip(min=0, max=width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(min=0, max=height)
    keep = (boxes[:, 3] > boxes[:, 1]) & (boxes[:, 2] > boxes[:, 0])
    new_target = {
        "image_id": np.asarray([target["image_id"]], dtype=np.int64),
        "class_labels": np.asarray([obj["category_id"] for obj in objects], dtype=np.int64)[keep],
        "boxes": boxes[keep],
        "area": np.asarray([obj["area"] for obj in objects], dtype=np.float32)[keep],
        "iscrowd": np.asarray([obj.get("iscrowd", 0) for obj in objects], dtype=np.int64)[keep],
        "orig_size": np.asarray([int(height), int(width)], dtype=np.int64),
    }
    if objects and "keypoints" in objects[0]:
        keypoints = np.asarray([obj["keypoints"] for obj in objects], dtype=np.float32)[keep]
        new_target["keypoints"] = keypoints.reshape((-1, 3)) if keypoints.shape[0] else keypoints
    if return_segmentation_masks:
        raise NotImplementedError("Polygon masks of coco_detection annotations (return_segmentation_masks=True) "
                                  "need pycocotools, which keras_tfm does not use; use coco_panoptic annotations.")
    return new_target


def rgb_to_id(color):
    """Panoptic PNG colours (H, W, 3) -> segment ids (COCO panopticapi's rule)."""
    color = color.astype(np.int32) if color.dtype == np.uint8 else color
    return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]


def masks_to_boxes(masks):
    """(N, H, W) masks -> (N, 4) boxes x0, y0, x1, y1 around them (as HF: pixel indices, inclusive)."""
    if masks.size == 0:
        return np.zeros((0, 4))
    height, width = masks.shape[-2:]
    y, x = np.meshgrid(np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32), indexing="ij")
    inside = masks.astype(bool)
    flat = masks.shape[0], -1
    x_mask, y_mask = masks * x[None], masks * y[None]
    x_min = np.where(inside, x_mask, np.float32(1e8)).reshape(flat).min(-1)
    y_min = np.where(inside, y_mask, np.float32(1e8)).reshape(flat).min(-1)
    return np.stack([x_min, y_min, x_mask.reshape(flat).max(-1), y_mask.reshape(flat).max(-1)], 1)


def prepare_coco_panoptic_annotation(image_size, target, masks_path, return_masks=True):
    """A COCO panoptic annotation (segments of a PNG under ``masks_path``) -> DETR's target, as HF."""
    PIL = require_pil()
    height, width = image_size
    new_target = {
        "image_id": np.asarray([target["image_id"] if "image_id" in target else target["id"]], dtype=np.int64),
        "size": np.asarray([height, width], dtype=np.int64),
        "orig_size": np.asarray([height, width], dtype=np.int64),
    }
    path = pathlib.Path(masks_path) / target["file_name"]
    if not path.is_file():
        raise ValueError(f"The panoptic mask {str(path)!r} of image_id {new_target['image_id'][0]} does not exist.")
    ids = rgb_to_id(np.asarray(PIL.Image.open(path), dtype=np.uint32))
    segments = target["segments_info"]
    masks = (ids == np.array([segment["id"] for segment in segments])[:, None, None]).astype(np.uint8)
    if return_masks:
        new_target["masks"] = masks
    new_target["boxes"] = masks_to_boxes(masks)
    new_target["class_labels"] = np.array([segment["category_id"] for segment in segments], dtype=np.int64)
    new_target["iscrowd"] = np.asarray([segment["iscrowd"] for segment in segments], dtype=np.int64)
    new_target["area"] = np.asarray([segment["area"] for segment in segments], dtype=np.float32)
    return new_target


def resize_annotation(annotation, original_size, target_size, threshold=0.5):
    """Boxes, areas and masks of a target scaled from ``original_size`` to ``target_size`` (as HF)."""
    ratio_height, ratio_width = (float(new) / float(old) for new, old in zip(target_size, original_size))
    new = {"size": tuple(int(v) for v in target_size)}
    for key, value in annotation.items():
        if key == "boxes":
            new[key] = value * np.asarray([ratio_width, ratio_height, ratio_width, ratio_height], dtype=np.float32)
        elif key == "area":
            new[key] = value * (ratio_width * ratio_height)
        elif key == "masks":
            resized = [transforms.resize(mask[..., None], target_size, resample=NEAREST,
                                         input_data_format="channels_last") for mask in value]
            new[key] = (np.asarray(resized, dtype=np.float32).reshape((-1,) + tuple(target_size))) > threshold
        elif key != "size":
            new[key] = value
    return new


def normalize_annotation(annotation, image_size):
    """Boxes from corners in pixels to normalized (center x, center y, width, height)."""
    height, width = image_size
    new = dict(annotation)
    if "boxes" in new:
        x0, y0, x1, y1 = new["boxes"].T
        boxes = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)
        new["boxes"] = boxes / np.asarray([width, height, width, height], dtype=np.float32)
    return new


def pad_annotation(annotation, image_size, padded_size, update_boxes):
    """A target of an image padded at the bottom / right: masks padded, normalized boxes rescaled."""
    new = {"size": tuple(int(v) for v in padded_size)}
    for key, value in annotation.items():
        if key == "masks":
            masks = np.pad(value, ((0, 0), (0, padded_size[0] - image_size[0]), (0, padded_size[1] - image_size[1])))
            new[key] = masks[:, 0] if masks.shape[1] == 1 else masks
        elif key == "boxes" and update_boxes:
            scale = np.asarray([image_size[1] / padded_size[1], image_size[0] / padded_size[0]] * 2)
            new[key] = (value * scale).astype(value.dtype)
        elif key != "size":
            new[key] = value
    return new
