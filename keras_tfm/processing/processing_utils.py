"""``ProcessorMixin``: one object holding a model's tokenizer and image processor / feature extractor.

A multimodal model's processor subclasses it, names its parts in ``attributes`` and
registers itself:

    @register_processor("AutoProcessor", model_types=("vilt",))
    class ViltProcessor(ProcessorMixin):
        attributes = ["image_processor", "tokenizer"]

``save_pretrained`` writes the folder as transformers 5 does: the tokenizer's own files,
and ``processor_config.json`` holding the processor's options, ``processor_class`` and the
other parts' configs nested under their attribute names.
"""

import copy
import inspect
import os

from keras_tfm.configuration_utils import pop_hub_kwargs
from keras_tfm.processing.auto_processing import AutoFeatureExtractor, AutoImageProcessor
from keras_tfm.processing.auto_tokenizer import AutoTokenizer
from keras_tfm.processing.batch import BatchFeature
from keras_tfm.processing.feature_extraction import FeatureExtractionMixin
from keras_tfm.processing.image_processing import BaseImageProcessor, ImageProcessingMixin
from keras_tfm.processing.json_config import (
    PROCESSOR_CONFIG_FILE,
    JsonConfigMixin,
    check_save_directory,
    read_json_beside_model,
)
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer
from keras_tfm.utils.io import saves_a_folder

# Attribute name (its modality word) -> (the base its value must have, the Auto class that loads it).
_PARTS = {
    "tokenizer": (PreTrainedTokenizer, AutoTokenizer),
    "image_processor": (ImageProcessingMixin, AutoImageProcessor),
    "feature_extractor": (FeatureExtractionMixin, AutoFeatureExtractor),
}


def _part_kind(attribute):
    """"tokenizer", "image_processor" or "feature_extractor": the modality word in an attribute name."""
    for kind in _PARTS:
        if kind in attribute:
            return kind
    raise ValueError(f"Processor attribute {attribute!r} names no known part ({', '.join(_PARTS)}).")


class ProcessorMixin(JsonConfigMixin):
    """A tokenizer plus an image processor and/or feature extractor, loaded and called as one.

    ``processor(images=..., text=..., audio=...)`` sends text to the tokenizer, images to
    the image processor and audio to the feature extractor, and merges their outputs into
    one ``BatchFeature``. Keyword options go to every part whose call takes them.

    Args:
        *args: the parts, in the order of ``attributes``.
        **kwargs: the parts by attribute name, and the processor's own options (kept
            and saved in processor_config.json).
    """

    config_file_name = PROCESSOR_CONFIG_FILE
    type_key = "processor_class"
    attributes = ["image_processor", "tokenizer"]

    def __init__(self, *args, **kwargs):
        if len(args) > len(self.attributes):
            raise TypeError(f"{type(self).__name__} takes {len(self.attributes)} parts ({self.attributes}), "
                            f"got {len(args)} positional arguments.")
        parts = dict(zip(self.attributes, args))
        for name in self.attributes:
            if name in kwargs:
                if name in parts:
                    raise TypeError(f"{type(self).__name__} got two values for {name!r}.")
                parts[name] = kwargs.pop(name)
        missing = [name for name in self.attributes if parts.get(name) is None]
        if missing:
            raise ValueError(f"{type(self).__name__} needs {', '.join(self.attributes)}; missing: {', '.join(missing)}.")
        for name, part in parts.items():
            base = _PARTS[_part_kind(name)][0]
            if not isinstance(part, base):
                raise ValueError(f"{type(self).__name__}: {name} must be a {base.__name__}, got {type(part).__name__}.")
            setattr(self, name, part)
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads each part through its Auto class, and the options of processor_config.json.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id.
            **kwargs: hub arguments (``revision``, ``subfolder``...); parts given by
                attribute name are used as they are; other keys override options.
        """
        path = str(pretrained_model_name_or_path)
        hub_kwargs = pop_hub_kwargs(kwargs)
        parts = {}
        for name in cls.attributes:
            if name in kwargs:
                parts[name] = kwargs.pop(name)
                continue
            part_hub_kwargs = dict(hub_kwargs)
            if _part_kind(name) == "tokenizer" and name != "tokenizer":  # a second tokenizer lives in a subfolder
                part_hub_kwargs["subfolder"] = os.path.join(hub_kwargs.get("subfolder", ""), name)
            parts[name] = _PARTS[_part_kind(name)][1].from_pretrained(path, **part_hub_kwargs)
        options = read_json_beside_model(path, PROCESSOR_CONFIG_FILE, required=False, **hub_kwargs) or {}
        options = {key: value for key, value in options.items() if key not in cls.attributes}
        return cls(**parts, **{**options, **kwargs})

    @saves_a_folder
    def save_pretrained(self, save_directory):
        """Writes every part and processor_config.json (atomically); returns the paths written."""
        save_directory = check_save_directory(save_directory)
        paths = []
        for name in self.attributes:
            part = getattr(self, name)
            if isinstance(part, PreTrainedTokenizer):
                part.init_kwargs["processor_class"] = type(self).__name__  # as transformers records it
                folder = save_directory if name == "tokenizer" else os.path.join(save_directory, name)
                paths.extend(part.save_pretrained(folder))
        path = os.path.join(save_directory, PROCESSOR_CONFIG_FILE)
        self.to_json_file(path)
        return paths + [path]

    def to_dict(self):
        """The processor's options, the non-tokenizer parts' dicts by attribute name, and ``processor_class``."""
        output = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                  if not key.startswith("_") and key not in self.attributes}
        for name in self.attributes:
            part = getattr(self, name)
            if not isinstance(part, PreTrainedTokenizer):
                output[name] = part.to_dict()
        output[self.type_key] = type(self).__name__
        return output

    # ------------------------------------------------------------------ calling

    def __call__(self, images=None, text=None, audio=None, *, return_tensors=None, **kwargs):
        """Processes text, images and audio with their parts; one ``BatchFeature`` of everything.

        Args:
            images: images for the image processor.
            text: text (or a batch, or pairs through ``text_pair=``) for the tokenizer.
            audio: raw audio for the feature extractor.
            return_tensors: "pt", "tf", "jax", "np" or None, for every part.
            **kwargs: options, each sent to every part whose call takes it
                (``padding`` and ``max_length`` to the tokenizer, ``do_normalize`` to the
                image processor...).
        """
        inputs = {"tokenizer": text, "image_processor": images, "feature_extractor": audio}
        given = {kind: value for kind, value in inputs.items() if value is not None}
        if not given:
            raise ValueError(f"{type(self).__name__} needs text, images or audio to process.")
        parts = {kind: self._part(kind, argument) for kind, argument in
                 (("tokenizer", "text"), ("image_processor", "images"), ("feature_extractor", "audio"))
                 if kind in given}
        accepted = {kind: _call_options(part) for kind, part in parts.items()}
        unknown = sorted(key for key in kwargs if not any(key in names for names in accepted.values()))
        if unknown:
            raise ValueError(f"{type(self).__name__} got option(s) {unknown} that none of its parts takes.")
        data = {}
        for kind, part in parts.items():
            options = {key: value for key, value in kwargs.items() if key in accepted[kind]}
            data.update(part(given[kind], return_tensors=return_tensors, **options))
        return BatchFeature(data)

    def _part(self, kind, argument):
        """The first attribute of ``kind``; ValueError naming ``argument`` if this processor has none."""
        for name in self.attributes:
            if _part_kind(name) == kind:
                return getattr(self, name)
        raise ValueError(f"{type(self).__name__} has no {kind} to process {argument}= (its parts: {self.attributes}).")

    def batch_decode(self, *args, **kwargs):
        """The tokenizer's ``batch_decode``."""
        return self._part("tokenizer", "token ids").batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        """The tokenizer's ``decode``."""
        return self._part("tokenizer", "token ids").decode(*args, **kwargs)

    @property
    def model_input_names(self):
        """The input names of every part, in order, without repeats."""
        names = []
        for name in self.attributes:
            names.extend(getattr(getattr(self, name), "model_input_names", []))
        return list(dict.fromkeys(names))

    def __repr__(self):
        parts = "\n".join(f"- {name}: {getattr(self, name)!r}" for name in self.attributes)
        return f"{type(self).__name__}:\n{parts}\n\n{self.to_json_string()}"


def _call_options(part):
    """The keyword options a part's call takes (an image processor's ``call_options`` included)."""
    if isinstance(part, BaseImageProcessor):
        return set(part.call_options) | {"input_data_format"}
    parameters = inspect.signature(part.__call__).parameters.values()
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
