"""The Auto machinery: a config class by ``model_type``, and Auto model classes that look their model
up in the registry when called. keras_tfm.auto names the Auto classes and imports the models
(which fills the registry); a model that builds its parts through Auto classes (a
VisionEncoderDecoder) imports them from here, so that it does not import keras_tfm.auto in a circle.
"""

from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.config_checks import ConfigError
from keras_tfm.configuration_utils import CONFIG_NAME, from_dict_naming, pop_hub_kwargs, read_config_dict
from keras_tfm.registry import CONFIGS, MODELS


def _config_class(model_type, where):
    if not isinstance(model_type, str) or model_type not in CONFIGS:
        raise ConfigError(
            f"Unrecognized model_type {model_type!r} in {where}. keras_tfm supports: {', '.join(sorted(CONFIGS))}."
        )
    return CONFIGS[model_type]


class AutoConfig:
    @classmethod
    def for_model(cls, model_type, **kwargs):
        return _config_class(model_type, "AutoConfig.for_model")(**kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        hub_kwargs = pop_hub_kwargs(kwargs)
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub_kwargs)
        config_dict = read_config_dict(path)
        if "model_type" not in config_dict:
            raise ValueError(f"{path} has no 'model_type' key, so the architecture cannot be chosen.")
        return from_dict_naming(_config_class(config_dict["model_type"], path), config_dict, path, **kwargs)


class _AutoModel:
    """Resolves ``config.model_type`` to the model class registered for this Auto class."""

    @classmethod
    def _model_class(cls, config):
        table = MODELS.get(getattr(cls, "registry_name", cls.__name__), {})
        if config.model_type not in table:
            raise ValueError(
                f"{cls.__name__} has no model for model_type {config.model_type!r}; "
                f"it supports: {', '.join(sorted(table)) or 'none yet'}."
            )
        return table[config.model_type]

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls._model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, config=None, **kwargs):
        if config is None:
            hub_kwargs = {k: kwargs[k] for k in ("revision", "cache_dir", "local_files_only", "token", "subfolder") if k in kwargs}
            config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        return cls._model_class(config).from_pretrained(pretrained_model_name_or_path, config=config, **kwargs)


def _auto(name):
    return type(name, (_AutoModel,), {"__doc__": f"Auto class: the {name[4:] or 'base'} model for a config's model_type."})


AutoModel = _auto("AutoModel")
AutoModelForCausalLM = _auto("AutoModelForCausalLM")
