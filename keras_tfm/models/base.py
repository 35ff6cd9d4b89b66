"""Bases of every architecture's models: ``Backbone`` (its ``*Model``) and ``TaskModel`` (a
backbone under ``self.backbone`` plus a head)."""

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import Dense, normal_init
from keras_tfm.modeling_utils import PreTrainedModel


class _Flags:
    def flag(self, name, value):
        """A call's ``output_hidden_states`` / ``output_attentions``: the argument, else the config's."""
        return bool(getattr(self.config, name) if value is None else value)


class Backbone(_Flags, PreTrainedModel):
    """An architecture's base model; subclasses set ``config_class``, ``base_model_prefix`` and
    ``weight_map`` (its backbone rules)."""


class TaskModel(_Flags, PreTrainedModel):
    """A backbone (``backbone_class``) and a task head.

    ``config_class`` and ``base_model_prefix`` follow from ``backbone_class``; ``weight_map``
    is the backbone's rules (under the prefix) and ``head_rules`` (the head's HF names).
    """

    backbone_class = None
    head_rules = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        backbone = cls.backbone_class
        if backbone is None:
            return
        if "config_class" not in cls.__dict__:
            cls.config_class = backbone.config_class
        if "base_model_prefix" not in cls.__dict__:
            cls.base_model_prefix = backbone.base_model_prefix
        if "weight_map" not in cls.__dict__:
            cls.weight_map = WeightMap(backbone.weight_map.backbone, cls.head_rules, prefix=cls.base_model_prefix,
                                       is_base=False)

    def dense(self, units, **kwargs):
        return Dense(units, kernel_initializer=normal_init(self.config.initializer_range), dtype=self.dtype_policy,
                     **kwargs)


class BackboneTaskModel(TaskModel):
    """A task model whose backbone is built from the config alone, and which answers for its
    input embeddings and its KV-cache layout (decoder-only and encoder-decoder models)."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = self.backbone_class(config, dtype=self.dtype_policy)

    def get_input_embeddings(self):
        return self.backbone.get_input_embeddings()

    def cache_spec(self):
        return self.backbone.cache_spec()
