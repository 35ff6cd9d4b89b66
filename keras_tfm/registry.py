"""The registry behind the Auto classes, filled by decorators next to each model.

``@register_config`` on a config class records its ``model_type``;
``@register_model("AutoModelForSequenceClassification")`` on a model class records it
for that Auto class and the config's ``model_type``.
"""

CONFIGS = {}  # model_type -> config class
MODELS = {}  # auto class name -> {model_type: model class}


def register_config(config_class):
    CONFIGS[config_class.model_type] = config_class
    return config_class


def register_model(*auto_names):
    def decorate(model_class):
        for auto_name in auto_names:
            MODELS.setdefault(auto_name, {})[model_class.config_class.model_type] = model_class
        return model_class

    return decorate
