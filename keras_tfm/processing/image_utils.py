"""Numpy helpers every image processor needs: images to channels-first float arrays, rescale, normalize.

An image is a PIL image, a numpy array, a PyTorch / TensorFlow / JAX tensor, or nested
lists, laid out (height, width), (channels, height, width) or (height, width, channels).
Everything here works on channels-first ``float32`` arrays of shape (C, H, W).
"""

import base64
import binascii
import io
import os
import sys

import numpy as np

from keras_tfm.processing.batch import to_numpy

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
_NUM_CHANNELS = (1, 3)  # the channel counts that identify the channel axis, as transformers


def infer_channel_format(image, num_channels=_NUM_CHANNELS):
    """"channels_first" or "channels_last" for a 3-D array (the first axis wins when both fit)."""
    if image.ndim != 3:
        raise ValueError(f"An image must have 2 or 3 dimensions, got shape {image.shape}.")
    if image.shape[0] in num_channels:
        return CHANNELS_FIRST
    if image.shape[-1] in num_channels:
        return CHANNELS_LAST
    raise ValueError(
        f"Cannot tell the channel axis of an image of shape {image.shape}: neither the first nor the last axis "
        f"has {' or '.join(map(str, num_channels))} channels. Pass input_data_format='channels_first' or "
        "'channels_last'."
    )


def to_channels_first(image, input_data_format=None):
    """``image`` (PIL, array, tensor or nested lists) as a (C, H, W) ``float32`` array.

    A 2-D image is one channel. ``input_data_format`` ("channels_first" /
    "channels_last") says where the channels are when the shape cannot.
    """
    array = to_numpy(image)  # PIL images convert through their array interface
    if array.dtype.kind not in "biuf":
        raise ValueError(f"An image must hold numbers, got an array of {array.dtype} (shape {array.shape}).")
    if array.ndim == 2:
        array = array[None]
    else:
        fmt = input_data_format or infer_channel_format(array)
        if fmt == CHANNELS_LAST:
            array = np.moveaxis(array, -1, 0)
        elif fmt != CHANNELS_FIRST:
            raise ValueError(f"input_data_format={fmt!r} is not valid; use {CHANNELS_FIRST!r} or {CHANNELS_LAST!r}.")
        if array.ndim != 3:
            raise ValueError(f"An image must have 2 or 3 dimensions, got shape {array.shape}.")
    return np.ascontiguousarray(array, dtype=np.float32)


def make_batch_of_images(images, expected_ndims=3):
    """A list of single images from one image or a batch.

    A batch is a list (of images, paths, or lists of them: flattened, as transformers), or an
    array / tensor of ``expected_ndims + 1`` dimensions. A path, URL or PIL image is one image.
    """
    if isinstance(images, (str, os.PathLike)) or _is_pil(images):
        return [images]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("images is an empty list: pass at least one image.")
        if isinstance(images[0], (list, tuple)):
            if _is_number_list(images[0]):  # nested lists of numbers: one image or a batch, by depth
                images = np.asarray(images)
            else:  # a list of lists of images: flattened
                flat = [image for group in images for image in group]
                if not flat:
                    raise ValueError("images holds only empty lists: pass at least one image.")
                return flat
        else:
            return list(images)
    ndim = np.ndim(images) if isinstance(images, np.ndarray) else to_numpy(images).ndim
    if ndim == expected_ndims + 1:
        return list(to_numpy(images))
    if ndim in (2, expected_ndims):
        return [images]
    raise ValueError(
        f"images must be an image ({expected_ndims} dimensions or 2) or a batch of images (a list, or "
        f"{expected_ndims + 1} dimensions); got {ndim} dimensions ({type(images).__name__})."
    )


def _is_pil(value):
    pil_image = sys.modules.get("PIL.Image")  # no PIL image can exist unless Pillow is imported
    return pil_image is not None and isinstance(value, pil_image.Image)


def _is_number_list(value):
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    return isinstance(value, (int, float, np.number))


def rescale(image, scale):
    """``image * scale`` as ``float32`` (1/255 maps 0..255 pixels to 0..1), computed in float64 as transformers."""
    return (np.asarray(image, dtype=np.float64) * scale).astype(np.float32)


def normalize(image, mean, std):
    """``(image - mean) / std`` per channel of a (C, H, W) image; ``mean`` / ``std`` are numbers or one per channel."""
    image = np.asarray(image, dtype=np.float32)
    channels = image.shape[0]
    mean = _per_channel("image_mean", mean, channels)
    std = _per_channel("image_std", std, channels)
    return ((image - mean) / std).astype(np.float32)


def _per_channel(name, value, channels):
    value = np.asarray(value, dtype=np.float32).reshape(-1)
    if value.size == 1:
        value = np.repeat(value, channels)
    if value.size != channels:
        raise ValueError(f"{name} has {value.size} values but the image has {channels} channels.")
    return value[:, None, None]


class ImageFileError(OSError, ValueError):
    """An image that cannot be decoded: not an image, or damaged or cut short. The message names it.

    An OSError, as Pillow's own errors for damaged files are, and a ValueError, as load_image's errors for
    bad arguments are: code that catches either keeps working.
    """


def _open_image_string(image, timeout):
    """A PIL image from a file path, an http(s) URL or a base64 string."""
    source = image
    if image.startswith(("http://", "https://")):
        image = _open_with_pillow(io.BytesIO(_fetch_url(image, timeout)), f"The image at {image!r}")
    elif os.path.isfile(image):
        image = _open_with_pillow(image, f"{image!r}")
    else:
        try:
            data = base64.b64decode(image.split(",", 1)[-1] if image.startswith("data:image/") else image,
                                    validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{source[:200]!r} is neither a file that exists, an http(s) URL nor a base64 "
                             "image.") from None
        image = _open_with_pillow(io.BytesIO(data), "The base64 string given as an image")
    return image


def _open_with_pillow(file, what):
    """``Image.open(file)`` (the header only); an ImageFileError starting with ``what`` when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(file)
    except Image.DecompressionBombError:
        raise
    except UnidentifiedImageError as error:
        raise ImageFileError(f"{what} is not an image file Pillow can read.") from error
    except Exception as error:  # a known format whose header is damaged: OSError, SyntaxError, struct.error...
        raise ImageFileError(f"{what} has a damaged image header ({type(error).__name__}: {error}).") from error


def load_image(image, timeout=None):
    """An image given as a PIL image, a file path, an http(s) URL or a base64 string -> an RGB
    PIL image, turned upright by its EXIF orientation (as HF's ``load_image``).

    Errors name the input: a missing or non-image file, a URL that cannot be fetched (there is no
    network here, say), a zero-size image.
    """
    PIL = require_pil()
    from PIL import Image, ImageOps

    if isinstance(image, str):
        source = image
        try:
            image = _open_image_string(image, timeout)
        except Image.DecompressionBombError as error:  # a huge image is refused before it is decoded
            raise ValueError(f"{source[:200]!r}: {error} Raise PIL.Image.MAX_IMAGE_PIXELS if you trust it.") from None
    elif not isinstance(image, PIL.Image.Image):
        raise TypeError(f"load_image takes a PIL image, a path, a URL or a base64 string; got {type(image).__name__}.")
    else:
        source = "the PIL image"
    if image.width == 0 or image.height == 0:
        raise ValueError(f"{source!r} is an empty image ({image.width}x{image.height}).")
    try:  # Image.open read only the header: the pixels are decoded here, and damage shows here
        return ImageOps.exif_transpose(image).convert("RGB")
    except Exception as error:  # Pillow's plugins raise OSError, SyntaxError, EOFError, struct.error...
        raise ImageFileError(f"{source!r} cannot be decoded as an image, it is damaged or cut short "
                             f"({type(error).__name__}: {error}).") from error


def require_pil():
    """The ``PIL`` module, or an ImportError that says how to install Pillow."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError as error:
        raise ImportError("Reading images needs Pillow: pip install Pillow") from error
    import PIL

    return PIL


def _fetch_url(url, timeout):
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout or 10) as response:
            return response.read()
    except Exception as error:
        raise OSError(f"Could not fetch the image at {url!r} ({type(error).__name__}: {error}). Without a network, "
                      "pass a local file path or a PIL image instead.") from error
