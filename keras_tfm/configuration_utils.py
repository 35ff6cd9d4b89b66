"""Model configurations, compatible with Hugging Face ``config.json`` files."""

import copy
import json
import logging
import os

from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.config_checks import SIZE_FIELDS, ConfigError, check_config_dict
from keras_tfm.utils.io import atomic_write_text, saves_a_folder

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"


class PretrainedConfig:
    """Base class of every configuration.

    Field names follow Hugging Face. ``attribute_map`` maps aliases to real fields
    (``n_heads`` -> ``num_attention_heads``); reading or writing an alias touches the
    real field. Keys this class does not know are kept as attributes, so a round trip
    through ``to_dict`` / ``from_dict`` loses nothing.
    """

    model_type = ""
    attribute_map = {}

    def __init__(
        self,
        *,
        num_labels=None,
        id2label=None,
        label2id=None,
        problem_type=None,
        output_hidden_states=False,
        output_attentions=False,
        pad_token_id=None,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=True,
        architectures=None,
        **kwargs,
    ):
        if problem_type not in (None, "regression", "single_label_classification", "multi_label_classification"):
            raise ValueError(
                f"problem_type={problem_type!r} is not one of 'regression', "
                "'single_label_classification', 'multi_label_classification'."
            )
        self.problem_type = problem_type
        self.output_hidden_states = output_hidden_states
        self.output_attentions = output_attentions
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.tie_word_embeddings = tie_word_embeddings
        self.architectures = architectures
        if id2label is not None:
            self.id2label = {int(k): v for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(self.id2label):
                raise ValueError(f"num_labels={num_labels} disagrees with id2label of {len(self.id2label)} labels.")
        else:
            self.id2label = {i: f"LABEL_{i}" for i in range(2 if num_labels is None else num_labels)}
        self.label2id = (
            {k: int(v) for k, v in label2id.items()}
            if label2id is not None and set(label2id) == set(self.id2label.values())
            else {v: k for k, v in self.id2label.items()}
        )
        kwargs.pop("model_type", None)
        for key, value in kwargs.items():
            setattr(self, key, value)

    # Aliases: `config.n_heads` reads and writes `config.num_attention_heads`.
    def __setattr__(self, key, value):
        key = type(self).attribute_map.get(key, key)
        super().__setattr__(key, value)

    def __getattr__(self, key):  # only called when normal lookup fails
        real = type(self).attribute_map.get(key)
        if real is not None:
            return getattr(self, real)
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    @property
    def num_labels(self):
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n):
        if len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    def to_dict(self):
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["model_type"] = self.model_type
        return out

    def to_json_string(self):
        return json_string(self.to_dict())

    @classmethod
    def from_dict(cls, config_dict, **overrides):
        config_dict = dict(config_dict)
        num_labels = overrides.pop("num_labels", None)
        for key, value in overrides.items():
            config_dict[cls.attribute_map.get(key, key)] = value
        if num_labels is not None:
            if "id2label" in overrides:
                if len(overrides["id2label"]) != num_labels:
                    raise ValueError(f"num_labels={num_labels} disagrees with the id2label given.")
            elif len(config_dict.get("id2label") or {}) != num_labels:
                config_dict.pop("id2label", None)
                config_dict.pop("label2id", None)
                config_dict["num_labels"] = num_labels
        # Aliases in the file itself (rare) are resolved the same way.
        for alias, real in cls.attribute_map.items():
            if alias in config_dict:
                config_dict.setdefault(real, config_dict.pop(alias))
        check_config_dict(config_dict)
        _check_sizes_against_defaults(cls, config_dict)
        return cls(**config_dict)

    @classmethod
    def from_json_file(cls, path):
        return cls.from_dict(read_config_dict(path))

    @classmethod
    def from_pretrained(cls, path_or_id, **kwargs):
        hub_kwargs = pop_hub_kwargs(kwargs)
        path = resolve_file(path_or_id, CONFIG_NAME, **hub_kwargs)
        config_dict = read_config_dict(path)
        model_type = config_dict.get("model_type")
        if cls.model_type and model_type and model_type != cls.model_type:
            logger.warning("Loading a %r config into %s.", model_type, cls.__name__)
        return from_dict_naming(cls, config_dict, path, **kwargs)

    @saves_a_folder
    def save_pretrained(self, save_directory):
        if os.path.isfile(save_directory):
            raise NotADirectoryError(f"save_pretrained: {save_directory!r} is a file, not a folder.")
        os.makedirs(save_directory, exist_ok=True)
        write_json_file(os.path.join(save_directory, CONFIG_NAME), self.to_dict())

    def __eq__(self, other):
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__} {self.to_json_string()}"


# Sizes that may be null because HF derives them from others (hidden_size / heads, 4 * n_embd, ...).
_DERIVED = ("head_dim", "num_key_value_heads", "n_inner", "num_decoder_layers", "d_kv")


def _check_sizes_against_defaults(cls, config_dict):
    """Size fields are compared with the class's defaults: null where the class has a number (BERT's
    vocab_size) is refused, and a list (one value per stage) only where the class has a list (SegFormer)."""
    odd = [f for f in SIZE_FIELDS if f in config_dict and ((config_dict[f] is None and f not in _DERIVED)
                                                          or isinstance(config_dict[f], list))]
    if not odd:
        return
    try:
        defaults = cls()
    except Exception:  # a class that cannot be built without arguments (an encoder-decoder): nothing to compare
        return
    for field in odd:
        default, value = getattr(defaults, field, None), config_dict[field]
        if value is None and default is not None:
            raise ConfigError(f"{field}=null: {cls.__name__} needs a number here (its default is {default}).")
        if isinstance(value, list) and not (isinstance(default, (list, tuple)) and value):
            raise ConfigError(f"{field}={value!r}: {cls.__name__} needs "
                              + ("one number per stage." if isinstance(default, (list, tuple)) else "one number."))


# JSON files beside a model (config.json, generation_config.json, tokenizer_config.json,
# preprocessor_config.json, processor_config.json) are read and written by these helpers.

HUB_KWARGS = ("revision", "cache_dir", "local_files_only", "token", "subfolder")


def from_dict_naming(config_class, config_dict, source, **overrides):
    """``config_class.from_dict``, with a ConfigError naming ``source`` (the file or model id)."""
    try:
        return config_class.from_dict(config_dict, **overrides)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def pop_hub_kwargs(kwargs):
    """Takes the hub-resolution arguments out of ``kwargs``."""
    return {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}


def read_config_dict(path):
    """The JSON object in the file at ``path``; ValueError naming the file if it is not valid JSON or not an object."""
    try:
        with open(path, encoding="utf-8") as f:
            config_dict = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config_dict, dict):
        raise ConfigError(f"{path} must hold a JSON object, found {type(config_dict).__name__}.")
    return config_dict


def json_string(value, *, ensure_ascii=True, default=None):
    """``value`` as the JSON text Hugging Face writes: 2-space indent, sorted keys, a final newline.

    ``default`` converts objects JSON does not know (as in ``json.dumps``).
    """
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=ensure_ascii, default=default) + "\n"


def write_json_file(path, value, *, ensure_ascii=True, default=None):
    """Writes ``json_string(value)`` to ``path`` atomically (a crash never leaves half a file)."""
    atomic_write_text(path, json_string(value, ensure_ascii=ensure_ascii, default=default))
