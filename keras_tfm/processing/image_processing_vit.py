"""``ViTImageProcessor``: resize to 224x224 (bilinear), rescale, normalize with mean = std = 0.5."""

from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.registry import register_processor

IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]
IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]

STANDARD_OPTIONS = ("do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size",
                    *BaseImageProcessor.call_options)


@register_processor("AutoImageProcessor", model_types=("vit",))
class ViTImageProcessor(BaseImageProcessor):
    """ViT's image processor, as ``transformers.ViTImageProcessorPil`` (``ViTFeatureExtractor`` in old folders).

    Example:
        >>> processor = ViTImageProcessor()
        >>> processor(PIL.Image.open("cat.png"), return_tensors="np")["pixel_values"].shape
        (1, 3, 224, 224)
    """

    call_options = STANDARD_OPTIONS
    do_convert_rgb = None
    do_resize = True
    size = {"height": 224, "width": 224}
    resample = 2  # bilinear
    do_center_crop = None
    crop_size = None
    image_mean = IMAGENET_STANDARD_MEAN
    image_std = IMAGENET_STANDARD_STD


@register_processor("AutoFeatureExtractor")
class ViTFeatureExtractor(ViTImageProcessor):
    """The name old ViT folders give their image processor (``feature_extractor_type``)."""
