"""Image processors: ``ImageProcessingMixin`` (loading / saving) and ``BaseImageProcessor`` (the call).

An image processor turns images into the ``pixel_values`` a vision model takes, with the
options of its ``preprocessor_config.json`` (``do_resize``, ``size``, ``do_rescale``,
``image_mean``...), computing what transformers' PIL image processors (``*ImageProcessorPil``)
compute, with numpy and Pillow only. A model's image processor subclasses
``BaseImageProcessor``, declares its options in ``call_options`` with class defaults, overrides
``_preprocess`` (or the ``resize`` step) where it differs, then registers itself:

    @register_processor("AutoImageProcessor", model_types=("vit",))
    class ViTImageProcessor(BaseImageProcessor):
        ...
"""

import copy
import os

import numpy as np

from keras_tfm.processing import image_transforms as transforms
from keras_tfm.processing import image_utils
from keras_tfm.processing.batch import BatchFeature, to_numpy
from keras_tfm.processing.image_utils import CHANNELS_FIRST, CHANNELS_LAST
from keras_tfm.processing.json_config import PREPROCESSOR_CONFIG_FILE, JsonConfigMixin

# Options that hold a size, and whether an int means a square when the processor does not say.
SIZE_OPTIONS = {"size": None, "crop_size": True, "pad_size": True}
# PIL modes whose pixels are exactly np.array(image): kept as PIL images until resized (no copy).
_PLAIN_PIL_MODES = ("RGB", "L", "RGBA")


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
    """Images to ``pixel_values``: channels-first float32, resized, cropped, rescaled and normalized.

    ``processor(images, return_tensors="np")`` takes one image or a batch: PIL images, numpy
    arrays or tensors ((H, W), (C, H, W) or (H, W, C); uint8 or float), file paths, URLs, or
    lists of them. It returns a ``BatchFeature`` with ``pixel_values`` (batch, channels,
    height, width). Options of ``call_options`` are set from the constructor (or the class
    defaults) and may be overridden per call (``processor(images, do_normalize=False)``).
    Which of the steps below run depends on the options a subclass declares.

    Args:
        do_convert_rgb: make images RGB first (transparency composited onto white).
        do_resize: resize to ``size`` with the PIL filter ``resample`` (HF's codes: 2 bilinear...).
        size: {"height", "width"}, {"shortest_edge"} (+ "longest_edge") or {"max_height",
            "max_width"}; an int or (height, width) pair is read as transformers reads it.
        do_center_crop: crop the centre ``crop_size`` ({"height", "width"}).
        do_rescale: multiply pixels by ``rescale_factor`` (1/255: 0..255 to 0..1).
        rescale_factor: the factor.
        do_normalize: subtract ``image_mean`` and divide by ``image_std`` per channel.
        image_mean: a number or one per channel.
        image_std: a number or one per channel.
        do_pad: pad the batch at the bottom / right to ``pad_size`` or to its largest image.
        **kwargs: other keys of the config file, kept as attributes.
    """

    model_input_names = ["pixel_values"]
    call_options = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")
    default_to_square = True  # how an int ``size`` is read
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = None
    image_std = None

    def __init__(self, **kwargs):
        for name in self.call_options:  # every option is an attribute, so that it is saved
            kwargs.setdefault(name, copy.deepcopy(getattr(type(self), name, None)))
        kwargs = self._standardize(kwargs)
        super().__init__(**kwargs)

    def _standardize(self, options):
        """Sizes as HF's size dicts, ``resample`` as its int code, means / stds as lists."""
        for name, square in SIZE_OPTIONS.items():
            if options.get(name) is not None:
                options[name] = transforms.get_size_dict(
                    options[name], default_to_square=self.default_to_square if square is None else square,
                    param_name=name)
        if options.get("resample") is not None:
            options["resample"] = transforms.resample_code(options["resample"])
        for name in ("image_mean", "image_std"):
            if isinstance(options.get(name), (tuple, np.ndarray)):
                options[name] = list(np.asarray(options[name]).tolist())
        return options

    def __call__(self, images, *args, **kwargs):
        return self.preprocess(images, *args, **kwargs)

    def preprocess(self, images, return_tensors=None, input_data_format=None, data_format=CHANNELS_FIRST, **kwargs):
        """Processes one image or a batch of images into a ``BatchFeature``.

        Args:
            images: an image or a batch of images (see the class docstring).
            return_tensors: "pt", "tf", "jax", "np", or None (numpy arrays).
            input_data_format: "channels_first" or "channels_last" for arrays whose shape cannot
                tell (neither 1, 3 nor 4 channels first or last).
            data_format: the layout of ``pixel_values``: "channels_first" (default) or "channels_last".
            **kwargs: options of ``call_options`` for this call only.
        """
        options = self.options_for_call(kwargs)
        images = self.prepare_images(images, options.get("do_convert_rgb"), input_data_format)
        return BatchFeature(self._preprocess(images, data_format=data_format, **options), tensor_type=return_tensors)

    def options_for_call(self, kwargs):
        """The instance's options with this call's ``kwargs`` over them (ValueError naming unknown ones)."""
        unknown = sorted(set(kwargs) - set(self.call_options))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unknown option(s) {unknown}; it takes {list(self.call_options)}, "
                "return_tensors and input_data_format."
            )
        options = {name: getattr(self, name, None) for name in self.call_options}
        return self._standardize({**options, **kwargs})

    def prepare_images(self, images, do_convert_rgb=None, input_data_format=None, expected_ndims=3):
        """A list of images from the input, each a PIL image (RGB, L or RGBA) or an (H, W, C) array of its
        own dtype, as HF's ``process_image``: paths and URLs loaded, RGB-converted if asked."""
        batch = image_utils.make_batch_of_images(images, expected_ndims=expected_ndims)
        return [self.prepare_image(image, index, do_convert_rgb, input_data_format)
                for index, image in enumerate(batch)]

    def prepare_image(self, image, index=0, do_convert_rgb=None, input_data_format=None):
        """One image (see ``prepare_images``); errors name the image by its place in the batch."""
        PIL = image_utils.require_pil()
        if isinstance(image, (str, os.PathLike)):
            image = image_utils.load_image(os.fspath(image))
        if isinstance(image, PIL.Image.Image):
            if image.width == 0 or image.height == 0:
                raise ValueError(f"Image {index} of the batch is empty ({image.width}x{image.height}).")
            if do_convert_rgb:
                return transforms.pil_to_rgb(image)
            if image.mode in _PLAIN_PIL_MODES:
                return image
            array, input_data_format = np.asarray(image), CHANNELS_LAST
        else:
            array = to_numpy(image)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"Image {index} of the batch must hold numbers, got an array of {array.dtype} "
                             f"(shape {array.shape}).")
        if array.ndim == 2:
            array = array[..., None]
        elif array.ndim == 3:
            try:
                fmt = input_data_format or transforms.infer_format(array)
            except ValueError as error:
                raise ValueError(f"Image {index} of the batch: {error}") from None
            if fmt not in (CHANNELS_FIRST, CHANNELS_LAST):
                raise ValueError(f"input_data_format={fmt!r} is not valid; use {CHANNELS_FIRST!r} or "
                                 f"{CHANNELS_LAST!r}.")
            array = transforms.to_channels_last(array, fmt)
        else:
            raise ValueError(f"Image {index} of the batch must have 2 or 3 dimensions, got shape {array.shape}.")
        if 0 in array.shape:
            raise ValueError(f"Image {index} of the batch is empty (shape {array.shape}).")
        if do_convert_rgb:
            array = transforms.convert_to_rgb(array, CHANNELS_LAST)
        return array

    def _preprocess(self, images, *, data_format=CHANNELS_FIRST, **options):
        """Prepared images (see ``prepare_images``) -> the model inputs, a dict of batched arrays.

        Each image is resized and cropped (``transform``), then the batch is rescaled,
        normalized and padded at once (``pixel_values``). Subclasses override this to return
        more inputs (labels, masks).
        """
        images = [self.transform_image(index, image, options) for index, image in enumerate(images)]
        padded_size = self.padded_size(images, options)
        return {"pixel_values": self.pixel_values(images, options, padded_size, data_format)}

    def transform_image(self, index, image, options):
        """``transform`` of image ``index`` of the batch; its errors say which image."""
        try:
            return self.transform(image, options)
        except ValueError as error:
            raise ValueError(f"Image {index} of the batch: {error}") from None

    def transform(self, image, options):
        """One image resized (``do_resize``) and centre-cropped (``do_center_crop``), as an (H, W, C) array."""
        if options.get("do_resize"):
            image = self.resize(image, options.get("size"), options.get("resample"))
        if options.get("do_center_crop"):
            crop_size = options.get("crop_size")
            if not crop_size or "height" not in crop_size or "width" not in crop_size:
                raise ValueError(f"do_center_crop needs crop_size with 'height' and 'width', got {crop_size}.")
            image = self.center_crop(image, crop_size)
        return as_array(image)

    def resize(self, image, size, resample=None):
        """An image resized as ``size`` (a size dict) asks, through Pillow; an (H, W, C) array."""
        if not size:
            raise ValueError(f"{type(self).__name__}: do_resize needs size, got {size!r}.")
        new_size = transforms.output_size(transforms.image_size(image, CHANNELS_LAST), size)
        return transforms.resize(image, new_size, resample=resample, input_data_format=CHANNELS_LAST,
                                 data_format=CHANNELS_LAST)

    def center_crop(self, image, size):
        """The centre crop {"height", "width"} of an image (zero-padded if smaller); an (H, W, C) array."""
        return transforms.center_crop(as_array(image), (size["height"], size["width"]),
                                      input_data_format=CHANNELS_LAST, data_format=CHANNELS_LAST)

    def padded_size(self, images, options):
        """(height, width) to pad the batch to when ``do_pad``, else None."""
        if not options.get("do_pad"):
            return None
        pad_size = options.get("pad_size")
        if pad_size:
            if "height" not in pad_size or "width" not in pad_size:
                raise ValueError(f"pad_size must have 'height' and 'width', got {pad_size}.")
            return pad_size["height"], pad_size["width"]
        return tuple(max(sizes) for sizes in zip(*(image.shape[:2] for image in images)))

    def pixel_values(self, images, options, padded_size=None, data_format=CHANNELS_FIRST):
        """(H, W, C) images -> (B, C, H, W) float32, rescaled and normalized as the options say, padded
        with zeros to ``padded_size`` (see ``image_transforms.to_pixel_values``)."""
        channels = images[0].shape[2]
        do_normalize = options.get("do_normalize")
        mean = std = None
        if do_normalize:
            if options.get("image_mean") is None or options.get("image_std") is None:
                raise ValueError(f"{type(self).__name__}: do_normalize needs image_mean and image_std.")
            mean = per_channel("image_mean", options["image_mean"], images)
            std = per_channel("image_std", options["image_std"], images)
        if padded_size is not None:
            for index, image in enumerate(images):
                if image.shape[0] > padded_size[0] or image.shape[1] > padded_size[1]:
                    raise ValueError(f"Image {index} of size {image.shape[:2]} is larger than the pad size "
                                     f"{tuple(padded_size)}.")
        return transforms.to_pixel_values(images, options.get("do_rescale"), options.get("rescale_factor"),
                                          do_normalize, mean, std, padded_size, data_format)

    def to_dict(self):
        """The options and kept keys; ``image_processor_type`` is the processor's name (not a legacy
        ``XFeatureExtractor`` alias), as transformers saves it."""
        output = super().to_dict()
        output[self.type_key] = output[self.type_key].replace("FeatureExtractor", "ImageProcessor")
        return output

    def rescale(self, image, scale):
        """``image * scale`` (float32, computed in float64 as transformers)."""
        return image_utils.rescale(image, scale)

    def normalize(self, image, mean, std):
        """``(image - mean) / std`` per channel of a (C, H, W) image."""
        return image_utils.normalize(image, mean, std)


def as_array(image):
    """An (H, W, C) array from a prepared image (a PIL image, or an array already)."""
    if isinstance(image, np.ndarray):
        return image
    array = np.asarray(image)
    return array[..., None] if array.ndim == 2 else array


def per_channel(name, value, images):
    """``value`` (a number or one per channel) as a float64 array of one value per channel of ``images``
    (cast to each image's float type where used, as transformers)."""
    channels = images[0].shape[2]
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    if value.size == 1:
        value = np.repeat(value, channels)
    if value.size != channels:
        hint = " (pass do_convert_rgb=True to make the images RGB)" if channels in (1, 4) and value.size == 3 else ""
        raise ValueError(f"{name} has {value.size} values but the image has {channels} channels{hint}.")
    return value

