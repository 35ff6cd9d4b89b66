"""``ConvNextImageProcessor``: ConvNeXT's and ResNet's; below 384 px, resize the shorter edge to
``shortest_edge / crop_pct`` and crop the centre square, else warp to a square."""

from keras_tfm.processing import image_transforms as transforms
from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.processing.image_processing_vit import IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, STANDARD_OPTIONS
from keras_tfm.processing.image_utils import CHANNELS_LAST
from keras_tfm.registry import register_processor


@register_processor("AutoImageProcessor", model_types=("convnext", "resnet"))
class ConvNextImageProcessor(BaseImageProcessor):
    """As ``transformers.ConvNextImageProcessorPil``; ``microsoft/resnet-50`` names it too.

    Args:
        crop_pct: below 384 px, the share of the resized image the centre crop keeps (224/256).
        size: {"shortest_edge": n} (an int means that).
        **kwargs: the options of ``BaseImageProcessor``.
    """

    call_options = (*STANDARD_OPTIONS, "crop_pct")
    default_to_square = False
    do_convert_rgb = None
    do_resize = True
    size = {"shortest_edge": 384}
    resample = 3  # bicubic
    do_center_crop = None
    crop_size = None
    crop_pct = 224 / 256
    image_mean = IMAGENET_STANDARD_MEAN
    image_std = IMAGENET_STANDARD_STD

    def transform(self, image, options):
        if options.get("do_resize"):
            image = self.resize(image, options.get("size"), options.get("resample"), options.get("crop_pct"))
            options = {**options, "do_resize": False}
        return super().transform(image, options)

    def resize(self, image, size, resample=None, crop_pct=None):
        """Below 384: shorter edge to ``shortest_edge / crop_pct``, centre crop of ``shortest_edge``; else
        a ``shortest_edge`` square."""
        if not size or "shortest_edge" not in size:
            raise ValueError(f"{type(self).__name__} needs size with 'shortest_edge', got {size}.")
        shortest_edge = size["shortest_edge"]
        if shortest_edge >= 384:  # warped, not cropped, at 384 and above
            return transforms.resize(image, (shortest_edge, shortest_edge), resample,
                                     input_data_format=CHANNELS_LAST, data_format=CHANNELS_LAST)
        crop_pct = self.crop_pct if crop_pct is None else crop_pct
        new_size = transforms.get_resize_output_image_size(
            transforms.image_size(image, CHANNELS_LAST), int(shortest_edge / crop_pct), default_to_square=False)
        image = transforms.resize(image, new_size, resample, input_data_format=CHANNELS_LAST,
                                  data_format=CHANNELS_LAST)
        return self.center_crop(image, {"height": shortest_edge, "width": shortest_edge})


@register_processor("AutoFeatureExtractor")
class ConvNextFeatureExtractor(ConvNextImageProcessor):
    """The name old ConvNeXT and ResNet folders give their image processor (``feature_extractor_type``)."""
