"""What every vision model shares: ``pixel_values`` as the main input, and image classification.

A vision backbone subclasses ``VisionBackbone``; its image classifier subclasses
``ImageClassificationModel``, sets ``backbone_class`` / ``head_rules`` and says how it pools
the backbone's outputs into one vector per image (``pool``).
"""

import numpy as np

from keras_tfm.losses import sequence_classification_loss
from keras_tfm.modeling_outputs import ImageClassifierOutput
from keras_tfm.models.base import Backbone, TaskModel


class VisionInputs:
    """Mixin: ``pixel_values`` (B, C, H, W) is the main input, and builds the weights."""

    main_input_name = "pixel_values"
    dummy_image_size = 32  # for configs without ``image_size`` (DETR)

    def dummy_inputs(self):
        size = getattr(self.config, "image_size", None) or self.dummy_image_size
        height, width = size if isinstance(size, (list, tuple)) else (size, size)
        channels = getattr(self.config, "num_channels", 3)
        return {"pixel_values": np.zeros((1, channels, height, width), dtype="float32")}


class VisionBackbone(VisionInputs, Backbone):
    """An architecture's vision base model (``ViTModel``, ``ResNetModel``...)."""


class ImageClassificationModel(VisionInputs, TaskModel):
    """Backbone -> ``pool`` -> ``classifier`` -> logits, with the loss of ``config.problem_type``.

    Subclasses set ``backbone_class``, ``head_rules``, ``output_class`` (``ImageClassifierOutput``
    or ``ImageClassifierOutputWithNoAttention``), ``backbone_kwargs`` (passed when building the
    backbone, as ``add_pooling_layer=False``) and implement ``pool``. ``num_labels=0`` gives the
    pooled features as logits (HF's Identity classifier).
    """

    output_class = ImageClassifierOutput
    backbone_kwargs = {}

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = self.backbone_class(config, dtype=self.dtype_policy, **self.backbone_kwargs)
        self.classifier = self.build_classifier()

    def build_classifier(self):
        return self.dense(self.config.num_labels) if self.config.num_labels > 0 else None

    def pool(self, outputs, training):
        """The backbone's outputs -> (B, features)."""
        raise NotImplementedError

    def call(self, pixel_values, labels=None, output_hidden_states=None, output_attentions=None, training=False,
             **backbone_call_kwargs):
        if "attentions" in self.output_class.fields:
            backbone_call_kwargs["output_attentions"] = output_attentions
        elif output_attentions:
            raise ValueError(f"{type(self).__name__} has no attentions to output.")
        out = self.backbone(pixel_values, output_hidden_states=output_hidden_states, training=training,
                            **backbone_call_kwargs)
        pooled = self.pool(out, training)
        logits = pooled if self.classifier is None else self.classifier(pooled)
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        fields = {name: out.get(name) for name in ("hidden_states", "attentions") if name in self.output_class.fields}
        return self.output_class(loss=loss, logits=logits, **fields)
