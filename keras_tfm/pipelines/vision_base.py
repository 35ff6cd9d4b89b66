"""``ImagePipeline``: what the image pipelines share (image inputs, their sizes, batching images of different sizes).

An input is a PIL image, a file path, an http(s) URL, a base64 string, a numpy array or
tensor ((H, W), (H, W, C) or (C, H, W)), or a row of a ``datasets`` Dataset (a dict with one
image in it); lists, generators and datasets (or a dataset's image column) of them stream
through the base ``Pipeline``. Paths, URLs and PIL images are opened as transformers'
``load_image`` does (EXIF rotation applied, RGB).

Each feature keeps ``target_size``, the (height, width) of the image as given, for the
post-processing that maps boxes and masks back onto it. Images that the image processor
brings to different sizes (DETR keeps the aspect ratio) are padded at the bottom / right to
the largest of their batch, with a ``pixel_mask`` saying which pixels are real, as the image
processor pads a batch.
"""

import os

import numpy as np

from keras_tfm import backend
from keras_tfm.pipelines.base import Pipeline
from keras_tfm.processing import image_transforms as transforms
from keras_tfm.processing.image_utils import load_image, require_pil

IMAGE_INPUTS = ("pixel_values", "pixel_mask")


class ImagePipeline(Pipeline):
    """Base of the image pipelines: ``preprocess`` reads one image into a feature holding
    ``pixel_values`` (C, H, W), ``pixel_mask`` where the image processor makes one, and
    ``target_size``."""

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def __call__(self, inputs=None, **kwargs):
        """Runs the pipeline on one image (-> one result), a list of images (-> a list of results), or a
        generator / dataset (-> a generator). ``images=`` is accepted for ``inputs``, as transformers."""
        if "images" in kwargs:
            inputs = kwargs.pop("images")
        if inputs is None:
            raise ValueError(f"Cannot call the {self.task or type(self).__name__} pipeline without an inputs "
                             "argument: pass an image, a path or URL, or a list of them.")
        return super().__call__(inputs, **kwargs)

    def preprocess(self, image, timeout=None):
        image = self.read_image(image, timeout)
        features = self.image_processor(images=[image], return_tensors="np")
        feature = {name: np.asarray(features[name])[0] for name in IMAGE_INPUTS if name in features}
        feature["target_size"] = image_size(image)
        return feature

    def read_image(self, image, timeout=None):
        """One pipeline input -> a PIL image (RGB, upright) or, for arrays and tensors, the array."""
        PIL = require_pil()
        if isinstance(image, dict):
            image = _image_of_row(image, self.task)
        if isinstance(image, (str, os.PathLike)):
            return load_image(os.fspath(image), timeout=timeout)
        if isinstance(image, PIL.Image.Image):
            return load_image(image)
        if isinstance(image, np.ndarray) or backend.is_tensor(image):
            return image
        raise ValueError(
            f"The {self.task or type(self).__name__} pipeline takes images: a PIL image, a file path, a URL, a base64 "
            f"string, a numpy array or a tensor (or a list of them); got {type(image).__name__}: {image!r:.80}."
        )

    def _collate(self, features):
        """Stacks the images of a batch; pads them to the largest (with ``pixel_mask``) when their sizes differ."""
        shapes = {np.shape(f["pixel_values"]) for f in features if "pixel_values" in f}
        if len(shapes) > 1 and "pixel_mask" in self.model_input_names:
            features = pad_images(features)
        return super()._collate(features)

    @staticmethod
    def batched(outputs, keys):
        """The outputs of one feature as a batch of one (what post-processing takes), for those of ``keys`` present."""
        return {key: np.asarray(outputs[key])[None] for key in keys if key in outputs}


def is_image(value):
    """Whether ``value`` is one image input (a PIL image, a path or URL, an array or tensor), not a batch."""
    if isinstance(value, (str, os.PathLike, np.ndarray)) or backend.is_tensor(value):
        return True
    try:
        import PIL.Image
    except ImportError:
        return False
    return isinstance(value, PIL.Image.Image)


def image_size(image):
    """(height, width) of a PIL image or an array / tensor, the channel axis found as the image processors find it."""
    if backend.is_tensor(image):
        image = backend.to_numpy(image)
    return tuple(int(n) for n in transforms.image_size(image if hasattr(image, "height") else np.asarray(image)))


def pad_images(features):
    """The features with ``pixel_values`` zero-padded at the bottom / right to the largest of the batch and
    ``pixel_mask`` (1 on the image, 0 on the padding), as an image processor pads a batch."""
    height = max(np.shape(f["pixel_values"])[-2] for f in features)
    width = max(np.shape(f["pixel_values"])[-1] for f in features)
    padded = []
    for feature in features:
        pixels = np.asarray(feature["pixel_values"])
        h, w = pixels.shape[-2:]
        mask = np.asarray(feature["pixel_mask"]) if "pixel_mask" in feature else np.ones((h, w), np.int64)
        padded.append({
            **feature,
            "pixel_values": np.pad(pixels, [(0, 0), (0, height - h), (0, width - w)]),
            "pixel_mask": np.pad(mask, [(0, height - h), (0, width - w)]),
        })
    return padded


def _image_of_row(row, task):
    """The image of a dataset row (a dict): its only PIL image value, or its "image" / "img" entry."""
    PIL = require_pil()
    images = [key for key, value in row.items() if isinstance(value, PIL.Image.Image)]
    if len(images) == 1:
        return row[images[0]]
    for key in ("image", "img"):
        if key in row:
            return row[key]
    raise ValueError(
        f"The {task} pipeline got a dict (a dataset row?) with keys {sorted(row)} and cannot tell which is the "
        "image: pass the image column (dataset['image'] or KeyDataset(dataset, 'image'))."
    )
