"""``BlipImageProcessor``: convert to RGB, resize to 384x384 (bicubic), rescale, normalize with OpenAI
CLIP's mean and std."""

from keras_tfm.processing.image_processing import BaseImageProcessor
from keras_tfm.processing.image_processing_vit import STANDARD_OPTIONS
from keras_tfm.registry import register_processor

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@register_processor("AutoImageProcessor", model_types=("blip",))
class BlipImageProcessor(BaseImageProcessor):
    """BLIP's image processor, as ``transformers.BlipImageProcessorPil``.

    Example:
        >>> processor = BlipImageProcessor()
        >>> processor(PIL.Image.open("cat.png"), return_tensors="np")["pixel_values"].shape
        (1, 3, 384, 384)
    """

    call_options = STANDARD_OPTIONS
    do_convert_rgb = True
    do_resize = True
    size = {"height": 384, "width": 384}
    resample = 3  # bicubic
    do_center_crop = None
    crop_size = None
    image_mean = OPENAI_CLIP_MEAN
    image_std = OPENAI_CLIP_STD
