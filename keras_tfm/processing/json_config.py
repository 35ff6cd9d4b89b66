"""One base for everything loaded from and saved to a JSON file beside a model.

``tokenizer_config.json``, ``preprocessor_config.json`` and ``processor_config.json`` are
found in a local folder or the huggingface_hub cache (``revision``, ``cache_dir``,
``local_files_only``, ``token``, ``subfolder``), read with errors that name the file, and
written atomically, with Hugging Face's layout (2-space indent, sorted keys).
"""

import copy
import logging
import os

import numpy as np

from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.configuration_utils import json_string, pop_hub_kwargs, read_config_dict, write_json_file
from keras_tfm.utils.io import saves_a_folder

logger = logging.getLogger(__name__)

PROCESSOR_CONFIG_FILE = "processor_config.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor_config.json"  # image processors and feature extractors


def read_json_beside_model(path_or_id, filename, *, required=True, **hub_kwargs):
    """The JSON object in ``filename`` of a folder or hub id; None if absent and not ``required``.

    Raises:
        ModelNotFoundError: the folder / id does not exist, or a required file is missing.
        ValueError: the file is not valid JSON or does not hold an object (the message names it).
    """
    path = resolve_file(path_or_id, filename, required=required, **hub_kwargs)
    return None if path is None else read_config_dict(path)


def to_json_value(value):
    """JSON form of what processors keep as options (numpy arrays and scalars); TypeError otherwise."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot save {type(value).__name__} in a JSON config: {value!r:.80}")


def check_save_directory(save_directory):
    """Creates ``save_directory``; ValueError if it is a file."""
    save_directory = os.fspath(save_directory)
    if os.path.isfile(save_directory):
        raise ValueError(f"save_pretrained needs a folder, but {save_directory!r} is a file.")
    os.makedirs(save_directory, exist_ok=True)
    return save_directory


class JsonConfigMixin:
    """Loads an object from one JSON file beside a model and saves it back.

    Subclasses name the file (``config_file_name``) and the key that records their class
    in it (``type_key``: ``image_processor_type``...). Every key of the file becomes an
    attribute, kept even when the class does not use it, so a round trip through
    ``to_dict`` / ``from_dict`` or ``save_pretrained`` / ``from_pretrained`` loses nothing.
    """

    config_file_name = None
    type_key = None
    # A processor_config.json may hold this object's dict under this key (transformers 5 nests them).
    processor_config_key = None

    def __init__(self, **kwargs):
        kwargs.pop(self.type_key, None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **hub_kwargs):
        """The dict this object is built from, read from a folder or hub id.

        A dict nested under ``processor_config_key`` in processor_config.json comes first
        (the layout transformers 5 saves), then ``config_file_name``.
        """
        if cls.processor_config_key is not None:
            processor_dict = read_json_beside_model(
                pretrained_model_name_or_path, PROCESSOR_CONFIG_FILE, required=False, **hub_kwargs
            )
            nested = (processor_dict or {}).get(cls.processor_config_key)
            if isinstance(nested, dict):
                return dict(nested)
        return read_json_beside_model(pretrained_model_name_or_path, cls.config_file_name, **hub_kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads from a folder or hub id; ``kwargs`` other than the hub ones override keys of the file.

        Args:
            pretrained_model_name_or_path: a folder, or a hub id (resolved through the
                huggingface_hub cache).
            **kwargs: ``revision``, ``cache_dir``, ``local_files_only``, ``token``,
                ``subfolder`` for the hub; any other key overrides the file's value.
        """
        hub_kwargs = pop_hub_kwargs(kwargs)
        return cls.from_dict(cls.get_config_dict(pretrained_model_name_or_path, **hub_kwargs), **kwargs)

    @classmethod
    def from_dict(cls, config_dict, **overrides):
        """Builds the object from a dict as ``to_dict`` gives it; ``overrides`` win over its keys."""
        if not isinstance(config_dict, dict):
            raise ValueError(f"{cls.__name__}.from_dict needs a dict, got {type(config_dict).__name__}.")
        saved_type = config_dict.get(cls.type_key) if cls.type_key else None
        # transformers 5 names its backends of class X "XFast" / "XPil": the same options.
        if saved_type and saved_type.removesuffix("Fast").removesuffix("Pil") != cls.__name__:
            logger.warning("Loading a config saved by %s into %s.", saved_type, cls.__name__)
        return cls(**{**config_dict, **overrides})

    @classmethod
    def from_json_file(cls, json_file):
        """Builds the object from a JSON file (ValueError naming the file if it is not a JSON object)."""
        return cls.from_dict(read_config_dict(json_file))

    def to_dict(self):
        """Every public attribute, plus ``type_key``: the class name."""
        output = {key: copy.deepcopy(value) for key, value in self.__dict__.items() if not key.startswith("_")}
        if self.type_key:
            output[self.type_key] = type(self).__name__
        return output

    def to_json_string(self):
        return json_string(self.to_dict(), default=to_json_value)

    def to_json_file(self, json_file_path):
        """Writes ``to_json_string()`` to ``json_file_path`` atomically."""
        write_json_file(json_file_path, self.to_dict(), default=to_json_value)

    @saves_a_folder
    def save_pretrained(self, save_directory):
        """Writes ``config_file_name`` in ``save_directory`` (created if needed); returns the paths written."""
        path = os.path.join(check_save_directory(save_directory), self.config_file_name)
        self.to_json_file(path)
        logger.info("%s saved in %s", type(self).__name__, path)
        return [path]

    def __eq__(self, other):
        return type(other) is type(self) and self.to_json_string() == other.to_json_string()

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string()}"
