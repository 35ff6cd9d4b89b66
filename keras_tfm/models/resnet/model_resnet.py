"""ResNet (He et al. 2015) as Keras 3 layers: HF's ``ResNetModel``, ``ResNetForImageClassification``
and ``ResNetBackbone`` (DETR's backbone, with frozen batch norm there)."""

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    BatchNorm,
    Conv2D,
    Dense,
    FrozenBatchNorm,
    Layer,
    MaxPool2D,
    channel_axis,
    get_activation,
    global_average_pool,
    to_channels_first,
    to_internal,
)
from keras_tfm.modeling_outputs import (
    BackboneOutput,
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)
from keras_tfm.models.resnet import convert_resnet
from keras_tfm.models.resnet.config_resnet import ResNetConfig
from keras_tfm.models.vision_tasks import ImageClassificationModel, VisionBackbone
from keras_tfm.registry import register_model

# HF initialises convolutions with kaiming_normal_(mode="fan_out", nonlinearity="relu").
CONV_INIT = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


class ConvNorm(Layer):
    """Conv (no bias, "same" padding for odd kernels) -> batch norm -> optional activation:
    HF's ``ResNetConvLayer``, and its ``ResNetShortCut`` without activation."""

    def __init__(self, filters, kernel_size=3, strides=1, activation=None, frozen_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        d = self.dtype_policy
        self.conv = Conv2D(filters, kernel_size, strides=strides, padding=kernel_size // 2, use_bias=False,
                           kernel_initializer=CONV_INIT, dtype=d)
        self.norm = (FrozenBatchNorm if frozen_batch_norm else BatchNorm)(dtype=d)
        self.activation = get_activation(activation) if activation else None

    def call(self, x, training=False):
        x = self.norm(self.conv(x), training=training)
        return x if self.activation is None else self.activation(x)


class ResNetBlock(Layer):
    """A residual layer: HF's ``ResNetBasicLayer`` (two 3x3 convs) or ``ResNetBottleNeckLayer``
    (1x1 reduce by 4, 3x3, 1x1 expand; the stride on the 1x1 if ``downsample_in_bottleneck``), with a
    projection shortcut where the shape changes."""

    def __init__(self, in_channels, out_channels, strides, layer_type, activation, downsample_in_bottleneck=False,
                 frozen_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        conv = lambda *a, **k: ConvNorm(*a, frozen_batch_norm=frozen_batch_norm, dtype=self.dtype_policy, **k)  # noqa: E731
        self.shortcut = conv(out_channels, 1, strides) if in_channels != out_channels or strides != 1 else None
        if layer_type == "bottleneck":
            reduced = out_channels // 4
            first, middle = (strides, 1) if downsample_in_bottleneck else (1, strides)
            self.convs = [conv(reduced, 1, first, "relu"), conv(reduced, 3, middle, "relu"), conv(out_channels, 1)]
        else:
            self.convs = [conv(out_channels, 3, strides, "relu"), conv(out_channels, 3)]
        self.activation = get_activation(activation)

    def call(self, x, training=False):
        residual = x if self.shortcut is None else self.shortcut(x, training=training)
        for conv in self.convs:
            x = conv(x, training=training)
        return self.activation(x + residual)


class ResNetStage(Layer):
    def __init__(self, config, in_channels, out_channels, strides, depth, frozen_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        c = config
        self.layers = [
            ResNetBlock(in_channels if i == 0 else out_channels, out_channels, strides if i == 0 else 1, c.layer_type,
                        c.hidden_act, c.downsample_in_bottleneck, frozen_batch_norm, dtype=self.dtype_policy)
            for i in range(depth)
        ]

    def call(self, x, training=False):
        for layer in self.layers:
            x = layer(x, training=training)
        return x


class ResNetEmbeddings(Layer):
    """The stem: 7x7 stride-2 conv, batch norm, activation, 3x3 stride-2 max pool."""

    def __init__(self, config, frozen_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.num_channels = config.num_channels
        self.stem = ConvNorm(config.embedding_size, 7, 2, config.hidden_act, frozen_batch_norm, dtype=self.dtype_policy)
        self.pool = MaxPool2D(3, strides=2, padding=1, dtype=self.dtype_policy)

    def call(self, x, training=False):
        channels = ops.shape(x)[channel_axis()]
        if channels != self.num_channels:
            raise ValueError(f"pixel_values has {channels} channels, but the config's num_channels is "
                             f"{self.num_channels}.")
        return self.pool(self.stem(x, training=training))


class ResNetEncoder(Layer):
    def __init__(self, config, frozen_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        c = config
        in_channels = [c.embedding_size, *c.hidden_sizes[:-1]]
        self.stages = [
            ResNetStage(c, cin, cout, 2 if i > 0 or c.downsample_in_first_stage else 1, depth, frozen_batch_norm,
                        dtype=self.dtype_policy)
            for i, (cin, cout, depth) in enumerate(zip(in_channels, c.hidden_sizes, c.depths))
        ]

    def call(self, x, training=False):
        """The stem's output (internal layout) -> every stage's input and the last output: HF's
        ``hidden_states``, indexed as ``stage_names``."""
        states = [x]
        for stage in self.stages:
            states.append(stage(states[-1], training=training))
        return states


class ResNetPreTrainedModel(VisionBackbone):
    config_class = ResNetConfig
    base_model_prefix = "resnet"
    weight_map = WeightMap(convert_resnet.BACKBONE, prefix="resnet")

    def __init__(self, config, frozen_batch_norm=False, **kwargs):
        super().__init__(config, **kwargs)
        self.embedder = ResNetEmbeddings(config, frozen_batch_norm, dtype=self.dtype_policy)
        self.encoder = ResNetEncoder(config, frozen_batch_norm, dtype=self.dtype_policy)

    def hidden_states_internal(self, x, training=False):
        """An image in the internal layout -> the stem's and every stage's output (internal layout)."""
        return self.encoder(self.embedder(x, training=training), training=training)

    def hidden_states_output(self, states, output_hidden_states):
        """HF's ``hidden_states`` (channels first) if asked for, else None."""
        return tuple(map(to_channels_first, states)) if self.flag("output_hidden_states", output_hidden_states) else None


@register_model("AutoModel")
class ResNetModel(ResNetPreTrainedModel):
    """HF's ``ResNetModel``: ``last_hidden_state`` (B, C, h, w), ``pooler_output`` (B, C, 1, 1), and
    with ``output_hidden_states`` the stem's and each stage's output, channels first as HF's."""

    def call(self, pixel_values, output_hidden_states=None, training=False):
        states = self.hidden_states_internal(to_internal(pixel_values), training=training)
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=to_channels_first(states[-1]),
            pooler_output=to_channels_first(global_average_pool(states[-1])),
            hidden_states=self.hidden_states_output(states, output_hidden_states),
        )


@register_model("AutoModelForImageClassification")
class ResNetForImageClassification(ImageClassificationModel):
    backbone_class = ResNetModel
    head_rules = convert_resnet.CLASSIFIER
    output_class = ImageClassifierOutputWithNoAttention

    def build_classifier(self):
        # HF's Linear keeps torch's default initialisation (kaiming uniform, a=sqrt(5)).
        init = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
        return Dense(self.config.num_labels, kernel_initializer=init, dtype=self.dtype_policy) \
            if self.config.num_labels > 0 else None

    def pool(self, outputs, training):
        return ops.reshape(outputs.pooler_output, (ops.shape(outputs.pooler_output)[0], -1))


@register_model("AutoBackbone")
class ResNetBackbone(ResNetPreTrainedModel):
    """HF's ``ResNetBackbone``: the feature maps of ``config.out_features`` (``stem``, ``stage1``...).

    Args:
        config: a ``ResNetConfig``.
        frozen_batch_norm: every batch norm is a ``FrozenBatchNorm`` (HF's ``replace_batch_norm``,
            as DETR freezes its backbone's statistics).
    """

    init_arguments = ("frozen_batch_norm",)

    def __init__(self, config, frozen_batch_norm=False, **kwargs):
        super().__init__(config, frozen_batch_norm=frozen_batch_norm, **kwargs)
        self.frozen_batch_norm = frozen_batch_norm

    @property
    def num_features(self):
        return [self.config.embedding_size, *self.config.hidden_sizes]

    @property
    def channels(self):
        """The channel count of each feature map, in ``out_features`` order."""
        return [self.num_features[i] for i in self.config.out_indices]

    def feature_maps_internal(self, x, training=False):
        """An image in the internal layout -> the maps of ``out_features``, in the internal layout."""
        states = self.hidden_states_internal(x, training=training)
        return tuple(states[i] for i in self.config.out_indices)

    def call(self, pixel_values, output_hidden_states=None, training=False):
        states = self.hidden_states_internal(to_internal(pixel_values), training=training)
        return BackboneOutput(
            feature_maps=tuple(to_channels_first(states[i]) for i in self.config.out_indices),
            hidden_states=self.hidden_states_output(states, output_hidden_states),
        )

    def get_config(self):
        return {**super().get_config(), "frozen_batch_norm": self.frozen_batch_norm}

    @classmethod
    def from_config(cls, config, **kwargs):
        if isinstance(config, dict) and "config" in config:  # Keras deserialization
            return cls(cls.config_class.from_dict(config["config"]), dtype=config.get("dtype"),
                       frozen_batch_norm=config.get("frozen_batch_norm", False))
        return super().from_config(config, **kwargs)
