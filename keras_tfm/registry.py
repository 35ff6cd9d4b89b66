"""The registry behind the Auto classes, filled by decorators next to each model.

``@register_config`` on a config class records its ``model_type``;
``@register_model("AutoModelForSequenceClassification")`` on a model class records it
for that Auto class and the config's ``model_type``;
``@register_processor("AutoImageProcessor", model_types=("vit",))`` on an image processor,
feature extractor or processor records it by its class name (the name saved in its JSON
file: ``image_processor_type``, ``feature_extractor_type``, ``processor_class``) and by
the ``model_type`` values of config.json it serves. A tokenizer class that is more than the
generic ``PreTrainedTokenizer`` (Wav2Vec2's CTC tokenizer, Whisper's) registers for
``"AutoTokenizer"`` by the ``tokenizer_class`` name tokenizer_config.json records.
"""

CONFIGS = {}  # model_type -> config class
MODELS = {}  # auto class name -> {model_type: model class}
PROCESSOR_AUTO_CLASSES = ("AutoImageProcessor", "AutoFeatureExtractor", "AutoProcessor", "AutoTokenizer")
PROCESSORS = {name: {} for name in PROCESSOR_AUTO_CLASSES}  # auto class name -> {class name: class}
PROCESSOR_MODEL_TYPES = {name: {} for name in PROCESSOR_AUTO_CLASSES}  # auto class name -> {model_type: class}


def register_config(config_class):
    CONFIGS[config_class.model_type] = config_class
    return config_class


def register_model(*auto_names):
    def decorate(model_class):
        for auto_name in auto_names:
            MODELS.setdefault(auto_name, {})[model_class.config_class.model_type] = model_class
        return model_class

    return decorate


def register_processor(*auto_names, model_types=()):
    """Records a processing class for the Auto classes ``auto_names``, by class name and ``model_types``."""
    for auto_name in auto_names:
        if auto_name not in PROCESSOR_AUTO_CLASSES:
            raise ValueError(f"register_processor: {auto_name!r} is not one of {PROCESSOR_AUTO_CLASSES}.")
    if isinstance(model_types, str):
        model_types = (model_types,)

    def decorate(processor_class):
        for auto_name in auto_names:
            PROCESSORS[auto_name][processor_class.__name__] = processor_class
            for model_type in model_types:
                PROCESSOR_MODEL_TYPES[auto_name][model_type] = processor_class
        return processor_class

    return decorate
