"""``SegformerImageProcessor``: resize to 512x512, normalize; ``segmentation_maps`` become ``labels``
(nearest resize, ``do_reduce_labels``: 0 -> 255, others minus 1)."""

import numpy as np

from keras_tfm.processing.batch import BatchFeature, to_numpy
from keras_tfm.processing.image_post_processing import SemanticSegmentationPostProcessing
from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.processing.image_processing_vit import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, STANDARD_OPTIONS
from keras_tfm.processing.image_utils import CHANNELS_FIRST, make_batch_of_images, require_pil
from keras_tfm.registry import register_processor

NEAREST = 0


@register_processor("AutoImageProcessor", model_types=("segformer",))
class SegformerImageProcessor(SemanticSegmentationPostProcessing, BaseImageProcessor):
    """SegFormer's image processor, as ``transformers.SegformerImageProcessorPil``.

    ``processor(images, segmentation_maps=None, return_tensors=None)`` gives ``pixel_values`` and,
    with maps (PIL images or 2-D arrays of class ids), ``labels`` (batch, height, width) int64.

    Args:
        do_reduce_labels: label 0 (background) becomes 255 (ignored by the loss), the others
            drop by 1 (ADE20k's convention); ``reduce_labels`` in old folders.
        **kwargs: the options of ``BaseImageProcessor``.
    """

    call_options = (*STANDARD_OPTIONS, "do_reduce_labels")
    do_convert_rgb = None
    do_resize = True
    size = {"height": 512, "width": 512}
    resample = 2  # bilinear
    do_center_crop = None
    crop_size = None
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_reduce_labels = False

    def __init__(self, **kwargs):
        if "reduce_labels" in kwargs:  # the old name
            kwargs.setdefault("do_reduce_labels", kwargs.pop("reduce_labels"))
        super().__init__(**kwargs)

    def preprocess(self, images, segmentation_maps=None, return_tensors=None, input_data_format=None,
                   data_format=CHANNELS_FIRST, **kwargs):
        """Processes images (and their segmentation maps) into a ``BatchFeature``.

        Args:
            images: an image or a batch (see ``BaseImageProcessor``).
            segmentation_maps: a map or one per image: PIL images (mode L / P) or 2-D arrays of ids.
            return_tensors, input_data_format, data_format, **kwargs: as ``BaseImageProcessor.preprocess``.
        """
        options = self.options_for_call(kwargs)
        images = self.prepare_images(images, options.get("do_convert_rgb"), input_data_format)
        data = self._preprocess(images, data_format=data_format, **options)
        if segmentation_maps is not None:
            maps = [self.prepare_map(m, index) for index, m in
                    enumerate(make_batch_of_images(segmentation_maps, expected_ndims=2))]
            if len(maps) != len(images):
                raise ValueError(f"Got {len(images)} images but {len(maps)} segmentation maps: give one per image.")
            data["labels"] = self.labels(maps, options)
        return BatchFeature(data, tensor_type=return_tensors)

    def prepare_map(self, segmentation_map, index):
        """One map as a (H, W, 1) array of its ids (PIL images give their pixel values, palette indices for P)."""
        PIL = require_pil()
        array = np.asarray(segmentation_map) if isinstance(segmentation_map, PIL.Image.Image) else to_numpy(
            segmentation_map)
        if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
            array = array.reshape(array.shape[:2] if array.shape[-1] == 1 else array.shape[1:])
        if array.ndim != 2 or 0 in array.shape:
            raise ValueError(f"Segmentation map {index} must be a non-empty 2-D map of class ids, got shape "
                             f"{array.shape}.")
        return array[..., None]

    def labels(self, maps, options):
        """(H, W, 1) maps -> (B, h, w) int64: labels reduced if asked, resized with the nearest filter."""
        out = []
        for segmentation_map in maps:
            if options.get("do_reduce_labels"):
                segmentation_map = reduce_label(segmentation_map)
            if options.get("do_resize"):
                segmentation_map = self.resize(segmentation_map, options.get("size"), NEAREST)
            out.append(segmentation_map[..., 0].astype(np.int64))
        shapes = {m.shape for m in out}
        return np.stack(out) if len(shapes) == 1 else out


@register_processor("AutoFeatureExtractor")
class SegformerFeatureExtractor(SegformerImageProcessor):
    """The name old SegFormer folders give their image processor (``feature_extractor_type``)."""


def reduce_label(segmentation_map):
    """0 (background) -> 255, every other label minus 1 (255 stays 255), on a copy."""
    reduced = np.where(segmentation_map == 0, 255, segmentation_map).astype(segmentation_map.dtype)
    reduced = reduced - 1
    reduced[reduced == 254] = 255
    return reduced
