"""Auto classes: pick the config / model class from ``config.json``'s ``model_type``."""

from keras_tfm import models  # noqa: F401  (importing the models fills the registry)
from keras_tfm.checkpoints.hub import resolve_file
from keras_tfm.configuration_utils import CONFIG_NAME, pop_hub_kwargs, read_config_dict
from keras_tfm.registry import CONFIGS, MODELS


def _config_class(model_type, where):
    if model_type not in CONFIGS:
        raise ValueError(
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
        return _config_class(config_dict["model_type"], path).from_dict(config_dict, **kwargs)


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
AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification")
AutoModelForTokenClassification = _auto("AutoModelForTokenClassification")
AutoModelForQuestionAnswering = _auto("AutoModelForQuestionAnswering")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM")
AutoModelForCausalLM = _auto("AutoModelForCausalLM")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM")
AutoModelForTextEncoding = _auto("AutoModelForTextEncoding")
AutoModelForImageClassification = _auto("AutoModelForImageClassification")
AutoModelForObjectDetection = _auto("AutoModelForObjectDetection")
AutoModelForSemanticSegmentation = _auto("AutoModelForSemanticSegmentation")
AutoModelForImageSegmentation = _auto("AutoModelForImageSegmentation")
AutoModelForUniversalSegmentation = _auto("AutoModelForUniversalSegmentation")
AutoBackbone = _auto("AutoBackbone")
AutoModelForCTC = _auto("AutoModelForCTC")
AutoModelForAudioClassification = _auto("AutoModelForAudioClassification")
AutoModelForSpeechSeq2Seq = _auto("AutoModelForSpeechSeq2Seq")
AutoModelForVision2Seq = _auto("AutoModelForVision2Seq")
AutoModelForVisualQuestionAnswering = _auto("AutoModelForVisualQuestionAnswering")
AutoModelForDocumentQuestionAnswering = _auto("AutoModelForDocumentQuestionAnswering")


class AutoModelForImageTextToText(AutoModelForVision2Seq):
    """HF 5's name for ``AutoModelForVision2Seq`` (the same models)."""

    registry_name = "AutoModelForVision2Seq"


# The seed's TensorFlow code names these; on keras_tfm every model runs on every backend.
TFAutoModel = AutoModel
TFAutoModelForSequenceClassification = AutoModelForSequenceClassification
TFAutoModelForTokenClassification = AutoModelForTokenClassification
TFAutoModelForQuestionAnswering = AutoModelForQuestionAnswering
TFAutoModelForMaskedLM = AutoModelForMaskedLM
TFAutoModelForCausalLM = AutoModelForCausalLM
TFAutoModelForSeq2SeqLM = AutoModelForSeq2SeqLM
TFAutoModelForImageClassification = AutoModelForImageClassification
TFAutoModelForSemanticSegmentation = AutoModelForSemanticSegmentation
TFAutoModelForAudioClassification = AutoModelForAudioClassification
TFAutoModelForSpeechSeq2Seq = AutoModelForSpeechSeq2Seq
TFAutoModelForVision2Seq = AutoModelForVision2Seq
TFAutoModelForDocumentQuestionAnswering = AutoModelForDocumentQuestionAnswering
