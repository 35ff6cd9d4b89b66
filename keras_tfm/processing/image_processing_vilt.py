"""``ViltImageProcessor``: resize the shorter edge to ``size["shortest_edge"]`` (the longer one capped at
1333/800 of it), both rounded to a multiple of ``size_divisor``; rescale, normalize, and pad the batch to
its largest image with a ``pixel_mask``."""

import numpy as np

from keras_tfm.processing import image_transforms as transforms
from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.processing.image_processing_vit import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD
from keras_tfm.processing.image_utils import CHANNELS_FIRST, CHANNELS_LAST
from keras_tfm.registry import register_processor

# The longer / shorter edge ratio ViLT allows: COCO's typical 1333 x 800.
MAX_LONGER_EDGE = 1333
MAX_SHORTER_EDGE = 800


def get_resize_output_image_size(image_size, shorter=800, longer=1333, size_divisor=32):
    """(height, width) of an image of ``image_size`` resized as ViLT resizes it: the shorter edge to
    ``shorter``, scaled down until the longer is at most ``longer``, each rounded to the nearest pixel
    then down to a multiple of ``size_divisor`` (transformers' arithmetic)."""
    height, width = image_size
    scale = shorter / min(height, width)
    new_height, new_width = (shorter, scale * width) if height < width else (scale * height, shorter)
    if max(new_height, new_width) > longer:
        scale = longer / max(new_height, new_width)
        new_height, new_width = scale * new_height, scale * new_width
    new_height, new_width = int(new_height + 0.5), int(new_width + 0.5)
    return new_height // size_divisor * size_divisor, new_width // size_divisor * size_divisor


def make_pixel_mask(image_sizes, padded_size):
    """(B, height, width) int64: 1 on each image's pixels ((height, width) of ``image_sizes``), 0 on the
    padding at its bottom / right."""
    mask = np.zeros((len(image_sizes),) + tuple(padded_size), dtype=np.int64)
    for index, (height, width) in enumerate(image_sizes):
        mask[index, :height, :width] = 1
    return mask


@register_processor("AutoImageProcessor", model_types=("vilt",))
class ViltImageProcessor(BaseImageProcessor):
    """ViLT's image processor, as ``transformers.ViltImageProcessorPil``.

    ``processor(images, return_tensors="np")`` gives ``pixel_values`` (B, 3, H, W) and, with ``do_pad``,
    ``pixel_mask`` (B, H, W): images of different sizes are padded with zeros to the batch's largest
    height and width, and the mask is 1 on real pixels.

    Args:
        size: {"shortest_edge": n} (an int means that); the longer edge is capped at ``int(1333 / 800 * n)``.
        size_divisor: both edges are rounded down to a multiple of it (32: ViLT's patch).
        do_pad: pad the batch and return ``pixel_mask``.
        **kwargs: the options of ``BaseImageProcessor`` (resample: bicubic).

    Example:
        >>> processor = ViltImageProcessor()
        >>> batch = processor([PIL.Image.new("RGB", (640, 480)), PIL.Image.new("RGB", (300, 500))], return_tensors="np")
        >>> batch["pixel_values"].shape, batch["pixel_mask"].shape
        ((2, 3, 608, 384), (2, 608, 384))
    """

    model_input_names = ["pixel_values", "pixel_mask"]
    call_options = ("do_convert_rgb", "do_resize", "size", "size_divisor", "resample",
                    *BaseImageProcessor.call_options, "do_pad")
    default_to_square = False
    do_convert_rgb = None
    do_resize = True
    size = {"shortest_edge": 384}
    size_divisor = 32
    resample = 3  # bicubic
    image_mean = IMAGENET_STANDARD_MEAN
    image_std = IMAGENET_STANDARD_STD
    do_pad = True

    def transform(self, image, options):
        if options.get("do_resize"):
            image = self.resize(image, options.get("size"), options.get("resample"), options.get("size_divisor"))
            options = {**options, "do_resize": False}
        return super().transform(image, options)

    def resize(self, image, size, resample=None, size_divisor=None):
        """The image resized by ViLT's rule (``get_resize_output_image_size``), through Pillow."""
        if not size or not size.get("shortest_edge"):
            raise ValueError(f"The `size` dictionary must contain the key `shortest_edge`. Got {size}")
        shorter = size["shortest_edge"]
        longer = int(MAX_LONGER_EDGE / MAX_SHORTER_EDGE * shorter)
        new_size = get_resize_output_image_size(transforms.image_size(image, CHANNELS_LAST), shorter, longer,
                                                size_divisor or self.size_divisor)
        if min(new_size) < 1:
            raise ValueError(f"Resizing an image of size {transforms.image_size(image, CHANNELS_LAST)} to shortest "
                             f"edge {shorter} with size_divisor {size_divisor or self.size_divisor} leaves {new_size}.")
        return transforms.resize(image, new_size, resample=resample, input_data_format=CHANNELS_LAST,
                                 data_format=CHANNELS_LAST)

    def _preprocess(self, images, *, data_format=CHANNELS_FIRST, **options):
        images = [self.transform_image(index, image, options) for index, image in enumerate(images)]
        padded_size = self.padded_size(images, options)
        data = {"pixel_values": self.pixel_values(images, options, padded_size, data_format)}
        if padded_size is not None:
            data["pixel_mask"] = make_pixel_mask([image.shape[:2] for image in images], padded_size)
        return data


@register_processor("AutoFeatureExtractor")
class ViltFeatureExtractor(ViltImageProcessor):
    """The name old ViLT folders give their image processor (``feature_extractor_type``, e.g.
    ``dandelin/vilt-b32-finetuned-vqa``)."""
