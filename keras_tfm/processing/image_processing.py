"""Image processors: ``ImageProcessingMixin`` (loading / saving) and ``BaseImageProcessor`` (the call).

An image processor turns images into the ``pixel_values`` a vision model takes, with the
options of its ``preprocessor_config.json`` (``do_rescale``, ``image_mean``...). A model's
image processor subclasses ``BaseImageProcessor``, declares its extra options in
``call_options`` and overrides ``_preprocess`` (resize, crop...), then registers itself:

    @register_processor("AutoImageProcessor", model_types=("vit",))
    class ViTImageProcessor(BaseImageProcessor):
        ...
"""

import copy

import numpy as np

from keras_tfm.processing import image_utils
from keras_tfm.processing.batch import BatchFeature
from keras_tfm.processing.json_config import PREPROCESSOR_CONFIG_FILE, JsonConfigMixin


class ImageProcessingMixin(JsonConfigMixin):
    """Loads an image processor from ``preprocessor_config.json`` and saves it back.

    transformers 5 also nests it under ``image_processor`` in ``processor_config.json``;
    that copy is read first. Every key of the file is kept (see ``JsonConfigMixin``).
    """

    config_file_name = PREPROCESSOR_CONFIG_FILE
    type_key = "image_processor_type"
    processor_config_key = "image_processor"

    def __init__(self, **kwargs):
        kwargs.pop("feature_extractor_type", None)  # legacy files name image processors so
        super().__init__(**kwargs)


class BaseImageProcessor(ImageProcessingMixin):
    """Images to ``pixel_values``: channels-first float32, rescaled and normalized.

    ``processor(images, return_tensors="np")`` takes one image or a batch (PIL images,
    numpy arrays, tensors or nested lists; channels first or last) and returns a
    ``BatchFeature`` with ``pixel_values`` of shape (batch, channels, height, width).
    Options of ``call_options`` are set from the constructor (or the class defaults) and
    may be overridden per call (``processor(images, do_normalize=False)``).

    Args:
        do_rescale: multiply pixels by ``rescale_factor`` (1/255: 0..255 to 0..1).
        rescale_factor: the factor.
        do_normalize: subtract ``image_mean`` and divide by ``image_std`` per channel.
        image_mean: a number or one per channel.
        image_std: a number or one per channel.
        **kwargs: other keys of the config file, kept as attributes.
    """

    model_input_names = ["pixel_values"]
    call_options = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = None
    image_std = None

    def __init__(self, **kwargs):
        for name in self.call_options:  # every option is an attribute, so that it is saved
            kwargs.setdefault(name, copy.deepcopy(getattr(type(self), name, None)))
        super().__init__(**kwargs)

    def __call__(self, images, **kwargs):
        return self.preprocess(images, **kwargs)

    def preprocess(self, images, return_tensors=None, input_data_format=None, **kwargs):
        """Processes one image or a batch of images into a ``BatchFeature``.

        Args:
            images: an image or a batch of images (see the class docstring).
            return_tensors: "pt", "tf", "jax", "np", or None (numpy arrays).
            input_data_format: "channels_first" or "channels_last" when the shape
                cannot tell (images with neither 1 nor 3 channels first or last).
            **kwargs: options of ``call_options`` for this call only.
        """
        unknown = sorted(set(kwargs) - set(self.call_options))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown option(s) {unknown}; it takes {list(self.call_options)}, "
                "return_tensors and input_data_format."
            )
        options = {name: kwargs.get(name, getattr(self, name)) for name in self.call_options}
        images = [image_utils.to_channels_first(image, input_data_format)
                  for image in image_utils.make_batch_of_images(images)]
        return BatchFeature(self._preprocess(images, **options), tensor_type=return_tensors)

    def _preprocess(self, images, *, do_rescale, rescale_factor, do_normalize, image_mean, image_std, **options):
        """(C, H, W) float32 images -> the model inputs, a dict of batched arrays.

        Subclasses override this to resize or crop first (their extra ``call_options``
        arrive in ``options``), and may return more inputs than ``pixel_values``.
        """
        processed = []
        for image in images:
            if do_rescale:
                image = self.rescale(image, rescale_factor)
            if do_normalize:
                if image_mean is None or image_std is None:
                    raise ValueError(f"{type(self).__name__}: do_normalize needs image_mean and image_std.")
                image = self.normalize(image, image_mean, image_std)
            processed.append(image)
        return {"pixel_values": stack_images(processed)}

    def rescale(self, image, scale):
        """``image * scale`` (float32)."""
        return image_utils.rescale(image, scale)

    def normalize(self, image, mean, std):
        """``(image - mean) / std`` per channel of a (C, H, W) image."""
        return image_utils.normalize(image, mean, std)


def stack_images(images):
    """(C, H, W) images -> one (B, C, H, W) array; ValueError naming the shapes if they differ."""
    shapes = sorted({image.shape for image in images})
    if len(shapes) > 1:
        raise ValueError(
            f"Cannot batch images of different shapes {shapes}: resize them to one size first "
            "(an image processor with do_resize / size does so)."
        )
    return np.stack(images)
