"""``AutoImageProcessor``, ``AutoFeatureExtractor`` and ``AutoProcessor``, resolved through the registry.

The class is found by the name its JSON file records (``image_processor_type``,
``feature_extractor_type``, ``processor_class``), then by config.json's ``model_type``;
the classes register themselves with ``@register_processor`` (``keras_tfm.registry``).
A folder whose class keras_tfm does not have gives an error naming the folder, what it
asks for, and what keras_tfm supports.
"""

from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.configuration_utils import CONFIG_NAME, pop_hub_kwargs
from keras_tfm.processing.auto_tokenizer import AutoTokenizer
from keras_tfm.processing.feature_extraction import FeatureExtractionMixin
from keras_tfm.processing.image_processing import ImageProcessingMixin
from keras_tfm.processing.json_config import PREPROCESSOR_CONFIG_FILE, PROCESSOR_CONFIG_FILE, read_json_beside_model
from keras_tfm.processing.tokenizer_files import TOKENIZER_CONFIG_FILE
from keras_tfm.registry import PROCESSOR_MODEL_TYPES, PROCESSORS


def registered_class(auto_name, class_name=None, model_type=None):
    """The class registered for ``auto_name`` under ``class_name`` (or its base name), else ``model_type``."""
    by_name = PROCESSORS[auto_name]
    if class_name:
        # transformers 5 saves "XImageProcessorFast" / "XImageProcessorPil" for its backends of "XImageProcessor".
        for suffix in ("", "Fast", "Pil"):
            if class_name.endswith(suffix) and class_name[: len(class_name) - len(suffix)] in by_name:
                return by_name[class_name[: len(class_name) - len(suffix)]]
    return PROCESSOR_MODEL_TYPES[auto_name].get(model_type)


def supported(auto_name):
    """What ``auto_name`` can load, in words ("none yet" when nothing is registered)."""
    names = sorted(PROCESSORS[auto_name])
    model_types = sorted(PROCESSOR_MODEL_TYPES[auto_name])
    if not names and not model_types:
        return "none yet"
    return ", ".join(names) + (f" (model_type: {', '.join(model_types)})" if model_types else "")


def _unsupported(auto_name, path, what, class_name, model_type):
    found = f"{what} {class_name!r}" if class_name else f"no {what}"
    found += f", config.json model_type {model_type!r}" if model_type else ", no config.json model_type"
    return ValueError(
        f"{auto_name} cannot load {path!r}: it has {found}, and keras_tfm has no class for it. "
        f"{auto_name} supports: {supported(auto_name)}."
    )


def _model_type(path, hub_kwargs):
    config = read_json_beside_model(path, CONFIG_NAME, required=False, **hub_kwargs) or {}
    return config.get("model_type")


class _AutoPreprocessor:
    """Shared by AutoImageProcessor and AutoFeatureExtractor: read the dict, find the class, build it."""

    _mixin = None  # the base whose config file and type key are read

    def __init__(self):
        raise OSError(f"{type(self).__name__} is built with {type(self).__name__}.from_pretrained(path_or_hub_id).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the class named by ``preprocessor_config.json`` (or config.json's model_type).

        transformers 5 folders may nest the dict in ``processor_config.json``; it is read first.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id.
            **kwargs: ``revision``, ``cache_dir``, ``local_files_only``, ``token``,
                ``subfolder`` for the hub; other keys override the file's options.

        Raises:
            ModelNotFoundError: the folder / id or its preprocessor_config.json is missing.
            ValueError: keras_tfm has no class for what the folder names.
        """
        auto_name, mixin, path = cls.__name__, cls._mixin, str(pretrained_model_name_or_path)
        hub_kwargs = pop_hub_kwargs(kwargs)
        kwargs.pop("use_fast", None)  # transformers' choice of backend: there is one (numpy) here
        config_dict = mixin.get_config_dict(path, **hub_kwargs)
        class_name = config_dict.get(mixin.type_key)
        if class_name is None and mixin is ImageProcessingMixin and config_dict.get("feature_extractor_type"):
            # Legacy folders name image processors "XFeatureExtractor".
            class_name = config_dict["feature_extractor_type"].replace("FeatureExtractor", "ImageProcessor")
        model_type = None if registered_class(auto_name, class_name) else _model_type(path, hub_kwargs)
        processor_class = registered_class(auto_name, class_name, model_type)
        if processor_class is None:
            raise _unsupported(auto_name, path, mixin.type_key, class_name, model_type)
        return processor_class.from_dict(config_dict, **kwargs)


class AutoImageProcessor(_AutoPreprocessor):
    """Loads the image processor of a model folder or hub id, like ``transformers.AutoImageProcessor``."""

    _mixin = ImageProcessingMixin


class AutoFeatureExtractor(_AutoPreprocessor):
    """Loads the feature extractor of a model folder or hub id, like ``transformers.AutoFeatureExtractor``."""

    _mixin = FeatureExtractionMixin


class AutoProcessor:
    """Loads the processor of a model folder or hub id, like ``transformers.AutoProcessor``.

    A model with a processor class (``processor_class`` in processor_config.json,
    preprocessor_config.json or tokenizer_config.json, or a registered config.json
    ``model_type``) gets that processor. A model without one gets its only processing
    class, as transformers does: the tokenizer of a text model, the image processor or
    feature extractor otherwise.
    """

    def __init__(self):
        raise OSError("AutoProcessor is built with AutoProcessor.from_pretrained(path_or_hub_id).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads the processor (or tokenizer / image processor / feature extractor) of a folder or hub id.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id.
            **kwargs: hub arguments, and options passed on to the class loaded.
        """
        path = str(pretrained_model_name_or_path)
        hub_kwargs = pop_hub_kwargs(kwargs)
        class_name = _processor_class_named(path, hub_kwargs)
        model_type = _model_type(path, hub_kwargs)
        processor_class = registered_class("AutoProcessor", class_name, model_type)
        if processor_class is not None:
            return processor_class.from_pretrained(path, **hub_kwargs, **kwargs)
        if class_name is not None:
            raise _unsupported("AutoProcessor", path, "processor_class", class_name, model_type)
        try:
            return AutoTokenizer.from_pretrained(path, **hub_kwargs, **kwargs)
        except ModelNotFoundError:
            pass  # no tokenizer files: an image or audio model
        preprocessor = read_json_beside_model(path, PREPROCESSOR_CONFIG_FILE, required=False, **hub_kwargs)
        if preprocessor is None:
            raise ModelNotFoundError(
                f"AutoProcessor cannot load {path!r}: it has no {PROCESSOR_CONFIG_FILE}, no tokenizer files "
                f"({TOKENIZER_CONFIG_FILE}, tokenizer.json, vocab.txt or vocab.json + merges.txt) and no "
                f"{PREPROCESSOR_CONFIG_FILE}."
            )
        if "feature_extractor_type" in preprocessor and "image_processor_type" not in preprocessor:
            return AutoFeatureExtractor.from_pretrained(path, **hub_kwargs, **kwargs)
        return AutoImageProcessor.from_pretrained(path, **hub_kwargs, **kwargs)


def _processor_class_named(path, hub_kwargs):
    """``processor_class`` from processor_config.json, preprocessor_config.json or tokenizer_config.json."""
    for filename in (PROCESSOR_CONFIG_FILE, PREPROCESSOR_CONFIG_FILE, TOKENIZER_CONFIG_FILE):
        config = read_json_beside_model(path, filename, required=False, **hub_kwargs) or {}
        if config.get("processor_class"):
            return config["processor_class"]
    return None
