"""Image transforms with numpy and Pillow, as transformers' PIL image processors compute them.

Resizing goes through Pillow with HF's resample codes and HF's rule for arrays: a float image
whose values are whole numbers in 0..255 is resized as uint8; one with values in 0..1 is
scaled to 0..255, cast to uint8 (truncating), resized, and scaled back by 1/255; anything else
cannot be resized. ``get_size_dict`` and the output-size helpers follow HF's ``size``
conventions (``height``/``width``, ``shortest_edge`` with or without ``longest_edge``,
``max_height``/``max_width``).

Images are PIL images or numpy arrays laid out (H, W), (C, H, W) or (H, W, C); functions take
``input_data_format`` / ``data_format`` ("channels_first" / "channels_last") as HF's do.
"""

import math

import numpy as np

from keras_tfm.processing.image_utils import CHANNELS_FIRST, CHANNELS_LAST, infer_channel_format, require_pil

# PIL's resampling filters by HF's codes (PILImageResampling is PIL.Image.Resampling).
RESAMPLE_NAMES = {0: "NEAREST", 1: "LANCZOS", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING"}

VALID_SIZE_DICT_KEYS = (
    {"height", "width"},
    {"shortest_edge"},
    {"shortest_edge", "longest_edge"},
    {"longest_edge"},
    {"max_height", "max_width"},
)


def resample_code(resample, default=2):
    """HF's resample code (an int, PIL's ``Resampling`` value) from an int, a ``Resampling`` or its name."""
    if resample is None:
        return default
    if isinstance(resample, str):
        names = {name.lower(): code for code, name in RESAMPLE_NAMES.items()}
        if resample.lower() not in names:
            raise ValueError(f"resample={resample!r} is not one of {sorted(names)}.")
        return names[resample.lower()]
    code = int(resample)
    if code not in RESAMPLE_NAMES:
        raise ValueError(f"resample={resample!r} is not a PIL resampling filter code {sorted(RESAMPLE_NAMES)}.")
    return code


def get_size_dict(size=None, max_size=None, height_width_order=True, default_to_square=True, param_name="size"):
    """``size`` as one of HF's size dicts (see ``VALID_SIZE_DICT_KEYS``), from a dict, an int or a pair.

    An int is ``{"height": n, "width": n}`` when ``default_to_square``, else
    ``{"shortest_edge": n}`` (plus ``"longest_edge": max_size`` if given); a pair is
    (height, width) (or (width, height) when not ``height_width_order``).
    """
    if isinstance(size, dict):
        size_dict = {key: value for key, value in size.items() if value is not None}
    elif isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if default_to_square:
            if max_size is not None:
                raise ValueError(f"{param_name}: an int size with default_to_square=True cannot have max_size.")
            size_dict = {"height": int(size), "width": int(size)}
        else:
            size_dict = {"shortest_edge": int(size)}
            if max_size is not None:
                size_dict["longest_edge"] = int(max_size)
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        height, width = size if height_width_order else size[::-1]
        size_dict = {"height": int(height), "width": int(width)}
    elif size is None and max_size is not None and not default_to_square:
        size_dict = {"longest_edge": int(max_size)}
    else:
        raise ValueError(f"{param_name}={size!r} cannot be read as a size: give an int, (height, width) or a dict.")
    if set(size_dict) not in VALID_SIZE_DICT_KEYS:
        raise ValueError(
            f"{param_name} must have one of the key sets {[sorted(keys) for keys in VALID_SIZE_DICT_KEYS]}, "
            f"got {sorted(size_dict)}."
        )
    return size_dict


def get_resize_output_image_size(image_size, size, default_to_square=True, max_size=None):
    """(height, width) after resizing ``image_size`` to ``size`` as torchvision / HF do.

    ``size`` is (h, w), or an int: a square when ``default_to_square``, else the length of the
    shorter edge (the longer one scaled and truncated), capped by ``max_size``.
    """
    if isinstance(size, (tuple, list)):
        if len(size) == 2:
            return tuple(size)
        size = size[0]
    if default_to_square:
        return (size, size)
    height, width = image_size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size={max_size} must be greater than the shorter edge's size {size}.")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def get_size_with_aspect_ratio(image_size, size, max_size=None):
    """(height, width) with the shorter edge ``size`` and the longer at most ``max_size`` (DETR's rule)."""
    height, width = image_size
    raw_size = None
    if max_size is not None:
        min_original, max_original = float(min(height, width)), float(max(height, width))
        if max_original / min_original * size > max_size:
            raw_size = max_size * min_original / max_original
            size = int(round(raw_size))
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    if width < height:
        return (int(raw_size * height / width) if raw_size is not None else int(size * height / width)), size
    return size, (int(raw_size * width / height) if raw_size is not None else int(size * width / height))


def get_image_size_for_max_height_width(image_size, max_height, max_width):
    """(height, width) scaled, aspect kept, until one edge meets ``max_height`` / ``max_width``."""
    height, width = image_size
    scale = min(max_height / height, max_width / width)
    return int(height * scale), int(width * scale)


def output_size(image_size, size, default_to_square=False):
    """(height, width) a size dict asks for an image of ``image_size`` (HF's PIL backend's order of rules)."""
    if size.get("shortest_edge") and size.get("longest_edge"):
        return get_size_with_aspect_ratio(image_size, size["shortest_edge"], size["longest_edge"])
    if size.get("shortest_edge"):
        return get_resize_output_image_size(image_size, size["shortest_edge"], default_to_square=False)
    if size.get("max_height") and size.get("max_width"):
        return get_image_size_for_max_height_width(image_size, size["max_height"], size["max_width"])
    if size.get("height") and size.get("width"):
        return size["height"], size["width"]
    raise ValueError(
        f"size must have 'height' and 'width', 'max_height' and 'max_width', or 'shortest_edge' (and "
        f"'longest_edge'); got {size}."
    )


def infer_format(image):
    """The channel axis of a 3-D array: 1 or 3 channels first, then last; else 4 (RGBA) first, then last.

    transformers looks for 1, 3 or 4 at once and so reads a 4-pixel-high RGB (4, W, 3) as RGBA
    channels first; looking for 1 and 3 first reads it as the RGB image it must be.
    """
    try:
        return infer_channel_format(image)
    except ValueError:
        return infer_channel_format(image, (1, 3, 4))


def image_size(image, input_data_format=None):
    """(height, width) of a PIL image or an array."""
    if not isinstance(image, np.ndarray):
        return image.height, image.width
    if image.ndim == 2:
        return image.shape
    fmt = input_data_format or infer_format(image)
    return image.shape[1:] if fmt == CHANNELS_FIRST else image.shape[:2]


def to_channels_last(image, input_data_format=None):
    """An array (H, W, C) from a (C, H, W), (H, W, C) or (H, W) array (a view when it can be)."""
    if image.ndim == 2:
        return image[..., None]
    fmt = input_data_format or infer_format(image)
    return np.moveaxis(image, 0, -1) if fmt == CHANNELS_FIRST else image


def to_data_format(image, data_format):
    """A (H, W, C) array in ``data_format`` (None: channels last)."""
    if data_format in (None, CHANNELS_LAST):
        return image
    if data_format != CHANNELS_FIRST:
        raise ValueError(f"data_format={data_format!r} is not valid; use {CHANNELS_FIRST!r} or {CHANNELS_LAST!r}.")
    return np.moveaxis(image, -1, 0)


def pil_rescale_rule(image):
    """Whether HF scales a float ``image`` by 255 before making it a uint8 PIL image (values in 0..1).

    Raises:
        ValueError: the values are neither whole numbers in 0..255 nor in 0..1.
    """
    if image.dtype == np.uint8:
        return False
    low, high = image.min(), image.max()
    if np.allclose(image, image.astype(int)):
        if low >= 0 and high <= 255:
            return False
        raise ValueError(f"An image with values in [{low}, {high}] cannot be resized: Pillow needs 0..255 (uint8) "
                         "or 0..1 (float) pixels (a 16-bit image? do_convert_rgb=True makes it 8-bit RGB).")
    if low >= 0 and high <= 1:
        return True
    raise ValueError(f"An image with values in [{low}, {high}] cannot be resized: Pillow needs 0..255 (uint8) or "
                     "0..1 (float) pixels.")


def to_pil_image(image, do_rescale=None, input_data_format=None):
    """A PIL image from an array (uint8, or float by ``pil_rescale_rule``); PIL images pass through."""
    PIL = require_pil()
    if isinstance(image, PIL.Image.Image):
        return image
    image = to_channels_last(np.asarray(image), input_data_format)
    if image.shape[-1] == 1:
        image = image[..., 0]
    if do_rescale is None:
        do_rescale = pil_rescale_rule(image)
    if do_rescale:
        image = (image.astype(np.float64) * 255).astype(np.float32)
    return PIL.Image.fromarray(image.astype(np.uint8, copy=False))


def resize(image, size, resample=None, reducing_gap=None, data_format=None, return_numpy=True,
           input_data_format=None):
    """``image`` resized to ``size`` (height, width) through Pillow, as transformers' ``resize``.

    Arrays follow HF's uint8 rule (module docstring); a float image in 0..1 comes back in 0..1
    (float32). The result keeps the input's layout unless ``data_format`` says otherwise (PIL
    images give channels-last arrays, or a PIL image when not ``return_numpy``).
    """
    PIL = require_pil()
    if len(size) != 2:
        raise ValueError(f"size must be (height, width), got {size!r}.")
    do_rescale = False
    if isinstance(image, PIL.Image.Image):
        input_data_format = CHANNELS_LAST
    else:
        image = np.asarray(image)
        if image.ndim == 2:
            input_data_format = input_data_format or CHANNELS_LAST
        input_data_format = input_data_format or infer_format(image)
        do_rescale = pil_rescale_rule(image)
        image = to_pil_image(image, do_rescale=do_rescale, input_data_format=input_data_format)
    height, width = size
    resized = image.resize((int(width), int(height)), resample=resample_code(resample), reducing_gap=reducing_gap)
    if not return_numpy:
        return resized
    array = np.asarray(resized)
    if array.ndim == 2:
        array = array[..., None]
    if do_rescale:
        array = (array.astype(np.float64) * (1 / 255)).astype(np.float32)
    return to_data_format(array, data_format or input_data_format)


def center_crop(image, size, data_format=None, input_data_format=None):
    """The centred (height, width) crop of an array, zero-padded where the image is smaller (as HF)."""
    image = np.asarray(image)
    fmt = input_data_format or (CHANNELS_LAST if image.ndim == 2 else infer_format(image))
    hwc = to_channels_last(image, fmt)
    crop_height, crop_width = (int(v) for v in size)
    height, width = hwc.shape[:2]
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    if top >= 0 and left >= 0 and top + crop_height <= height and left + crop_width <= width:
        cropped = hwc[top: top + crop_height, left: left + crop_width]
    else:  # pad with zeros to at least the crop, centred (the larger half after), then crop
        new_height, new_width = max(crop_height, height), max(crop_width, width)
        padded = np.zeros((new_height, new_width, hwc.shape[2]), dtype=hwc.dtype)
        top_pad, left_pad = math.ceil((new_height - height) / 2), math.ceil((new_width - width) / 2)
        padded[top_pad: top_pad + height, left_pad: left_pad + width] = hwc
        top, left = top + top_pad, left + left_pad
        cropped = padded[max(0, top): min(new_height, top + crop_height),
                         max(0, left): min(new_width, left + crop_width)]
    if image.ndim == 2 and data_format is None:
        return cropped[..., 0]
    return to_data_format(cropped, data_format or fmt)


def pad(image, padded_size, fill=0, data_format=None, input_data_format=None):
    """``image`` padded at the bottom and right with ``fill`` to ``padded_size`` (height, width)."""
    image = np.asarray(image)
    fmt = input_data_format or infer_format(image)
    hwc = to_channels_last(image, fmt)
    height, width = hwc.shape[:2]
    if padded_size[0] < height or padded_size[1] < width:
        raise ValueError(f"Cannot pad an image of size {(height, width)} to the smaller size {tuple(padded_size)}.")
    padded = np.pad(hwc, ((0, padded_size[0] - height), (0, padded_size[1] - width), (0, 0)), constant_values=fill)
    return to_data_format(padded, data_format or fmt)


def convert_to_rgb(image, input_data_format=None):
    """An RGB image as HF's ``convert_to_rgb``: transparency composited onto white.

    PIL images give an (H, W, 3) uint8 array; arrays keep their layout: one channel is
    repeated, four (RGBA) are blended onto white (uint8 rounded), three are unchanged.
    """
    PIL = require_pil()
    if isinstance(image, PIL.Image.Image):
        return np.asarray(pil_to_rgb(image))
    image = np.asarray(image)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    fmt = input_data_format or infer_format(image)
    hwc = to_channels_last(image, fmt)
    if hwc.shape[-1] == 1:
        rgb = np.repeat(hwc, 3, axis=-1)
    elif hwc.shape[-1] == 4:
        floating = np.issubdtype(hwc.dtype, np.floating)
        if floating and (hwc.min() < 0 or hwc.max() > 1):
            raise ValueError(f"An RGBA float image must hold values in [0, 1] to be made RGB, got "
                             f"[{hwc.min()}, {hwc.max()}].")
        white = 1.0 if floating else 255
        alpha = hwc[..., 3:4] / white
        composite = alpha * hwc[..., :3] + (1 - alpha) * white
        rgb = composite.astype(hwc.dtype) if floating else np.round(composite).astype(hwc.dtype)
    else:
        rgb = hwc
    return to_data_format(rgb, fmt)


def pil_to_rgb(image):
    """A PIL image in RGB mode, transparency composited onto white (HF's ``convert_to_rgb``)."""
    PIL = require_pil()
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        image = image.convert("RGBA")
        background = PIL.Image.new("RGBA", image.size, (255, 255, 255, 255))
        return PIL.Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def rescale_normalize_table(channels, do_rescale, rescale_factor, do_normalize, mean, std):
    """(channels, 256) float32: what rescale then normalize make of each uint8 value, bit for bit as HF
    (rescale in float64 then float32; normalize in float32), so a uint8 image needs one lookup."""
    values = np.arange(256, dtype=np.uint8)
    values = (values.astype(np.float64) * rescale_factor).astype(np.float32) if do_rescale else values
    values = np.broadcast_to(values.astype(np.float32), (channels, 256))
    if do_normalize:
        values = (values - mean.astype(np.float32)[:, None]) / std.astype(np.float32)[:, None]
    return np.ascontiguousarray(values, dtype=np.float32)


def rescale_normalize(image, do_rescale, rescale_factor, do_normalize, mean, std):
    """A (H, W, C) image rescaled then normalized as HF: rescaling gives float32 (computed in float64);
    normalizing works in the image's float type (float32 for integers), so float64 stays float64."""
    if do_rescale:
        image = (image.astype(np.float64) * rescale_factor).astype(np.float32)
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    if do_normalize:
        image = (image - mean.astype(image.dtype)) / std.astype(image.dtype)
    return image


def to_pixel_values(images, do_rescale, rescale_factor, do_normalize, mean, std, padded_size=None,
                    data_format=CHANNELS_FIRST):
    """(H, W, C) images -> one batch (B, C, H, W), rescaled and normalized, zero-padded at the bottom and
    right to ``padded_size`` (else all images must have one size). float32, unless a float64 image
    stays float64 (not rescaled), as in transformers.

    ``mean`` / ``std`` are float64 arrays of one value per channel (checked by the caller).
    uint8 images go through ``rescale_normalize_table``: one lookup per pixel, no float64 copy.
    """
    sizes = {image.shape[:2] for image in images}
    channels = {image.shape[2] for image in images}
    if len(channels) > 1:
        raise ValueError(f"Cannot batch images with different channel counts {sorted(channels)}.")
    if padded_size is None:
        if len(sizes) > 1:
            raise ValueError(
                f"Cannot batch images of different shapes {sorted(sizes)}: resize them to one size first "
                "(do_resize / size), or pad them."
            )
        padded_size = next(iter(sizes))
    (num_channels,) = channels
    computed = {index: rescale_normalize(image, do_rescale, rescale_factor, do_normalize, mean, std)
                for index, image in enumerate(images) if image.dtype != np.uint8}
    dtype = np.result_type(np.float32, *(value.dtype for value in computed.values()))
    out = np.zeros((len(images), num_channels) + tuple(padded_size), dtype=dtype)
    table = None
    for index, image in enumerate(images):
        height, width = image.shape[:2]
        target = out[index, :, :height, :width]
        if index in computed:
            target[...] = np.moveaxis(computed[index], -1, 0)
            continue
        if table is None:
            table = rescale_normalize_table(num_channels, do_rescale, rescale_factor, do_normalize, mean, std)
        for channel in range(num_channels):
            target[channel] = table[channel][image[..., channel]]
    return out if data_format in (None, CHANNELS_FIRST) else np.ascontiguousarray(np.moveaxis(out, 1, -1))
