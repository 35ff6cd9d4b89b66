"""SegFormer (Xie et al. 2021) as Keras 3 layers: the Mix Transformer encoder and the all-MLP decode head.

Feature maps run in the kit's internal image layout (``layers.image_data_format()``); outputs
are channels first, as HF's.
"""

from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    BatchNorm,
    Conv2D,
    CrossAttention,
    Dense,
    DropPath,
    Dropout,
    Layer,
    LayerNorm,
    channel_axis,
    flatten_spatial,
    get_activation,
    image_data_format,
    normal_init,
    spatial_shape,
    to_channels_first,
    to_internal,
    unflatten_spatial,
)
from keras_tfm.losses import semantic_segmentation_loss
from keras_tfm.modeling_outputs import BaseModelOutput, ImageClassifierOutput, SemanticSegmenterOutput
from keras_tfm.models.base import TaskModel
from keras_tfm.models.segformer import convert_segformer
from keras_tfm.models.segformer.config_segformer import SegformerConfig
from keras_tfm.models.vision_tasks import ImageClassificationModel, VisionBackbone, VisionInputs
from keras_tfm.registry import register_model

# HF builds every SegFormer LayerNorm with torch's default epsilon; config.layer_norm_eps is unused.
LAYER_NORM_EPS = 1e-5


def resize_bilinear(x, size):
    """An image tensor (internal layout) resized to ``size`` = (H, W) as torch's
    ``interpolate(mode="bilinear", align_corners=False)`` (Keras' resize without antialiasing is
    the same function on every backend)."""
    return ops.image.resize(x, tuple(size), interpolation="bilinear", antialias=False,
                            data_format=image_data_format())


class SegformerOverlapPatchEmbeddings(Layer):
    """A strided convolution whose patches overlap (padding ``patch_size // 2``), then LayerNorm
    over the tokens."""

    def __init__(self, patch_size, stride, hidden_size, **kwargs):
        super().__init__(**kwargs)
        self.proj = Conv2D(hidden_size, patch_size, strides=stride, padding=patch_size // 2, dtype=self.dtype_policy)
        self.layer_norm = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=self.dtype_policy)

    def call(self, x):
        """x: a map (internal layout) -> (tokens (B, h * w, C), h, w)."""
        x = self.proj(x)
        height, width = spatial_shape(x)
        return self.layer_norm(flatten_spatial(x)), height, width


class SegformerEfficientSelfAttention(CrossAttention):
    """Self-attention whose keys and values come from the tokens reduced ``sr_ratio`` times per
    side (a strided convolution, then LayerNorm): cross-attention of the tokens over their
    reduced map."""

    def __init__(self, hidden_size, num_heads, sr_ratio, **kwargs):
        super().__init__(hidden_size, num_heads, **kwargs)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sequence_reduction = Conv2D(hidden_size, sr_ratio, strides=sr_ratio, dtype=self.dtype_policy)
            self.sequence_reduction_norm = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=self.dtype_policy)

    def call(self, x, height, width, output_attentions=False, training=False):
        """x: (B, h * w, C) -> (y (B, h * w, C), probabilities (B, N, h * w, S) or None)."""
        kv = x
        if self.sr_ratio > 1:
            kv = flatten_spatial(self.sequence_reduction(unflatten_spatial(x, height, width)))
            kv = self.sequence_reduction_norm(kv)
        y, _, probs = super().call(x, encoder_hidden_states=kv, output_attentions=output_attentions,
                                   training=training)
        return y, probs


class SegformerMixFFN(Layer):
    """Mix-FFN: dense -> 3x3 depthwise convolution (the model's only position signal) ->
    activation -> dense."""

    def __init__(self, hidden_size, intermediate_size, activation, dropout, initializer_range, **kwargs):
        super().__init__(**kwargs)
        d = self.dtype_policy
        self.fc1 = Dense(intermediate_size, kernel_initializer=normal_init(initializer_range), dtype=d)
        self.dwconv = Conv2D(intermediate_size, 3, padding=1, groups=intermediate_size, dtype=d)
        self.fc2 = Dense(hidden_size, kernel_initializer=normal_init(initializer_range), dtype=d)
        self.activation = get_activation(activation)
        self.dropout = Dropout(dropout, dtype=d)

    def call(self, x, height, width, training=False):
        x = self.fc1(x)
        x = flatten_spatial(self.dwconv(unflatten_spatial(x, height, width)))
        x = self.dropout(self.activation(x), training=training)
        return self.dropout(self.fc2(x), training=training)


class SegformerLayer(Layer):
    """Pre-norm block: x + drop_path(attention(norm(x))), then x + drop_path(mix_ffn(norm(x)))."""

    def __init__(self, config, hidden_size, num_heads, sr_ratio, mlp_ratio, drop_path, **kwargs):
        super().__init__(**kwargs)
        c, d = config, self.dtype_policy
        self.layernorm_before = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=d)
        self.attention = SegformerEfficientSelfAttention(
            hidden_size, num_heads, sr_ratio, dropout=c.attention_probs_dropout_prob,
            initializer_range=c.initializer_range, dtype=d)
        self.hidden_dropout = Dropout(c.hidden_dropout_prob, dtype=d)
        self.drop_path = DropPath(drop_path, dtype=d)
        self.layernorm_after = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=d)
        self.mlp = SegformerMixFFN(hidden_size, int(hidden_size * mlp_ratio), c.hidden_act, c.hidden_dropout_prob,
                                   c.initializer_range, dtype=d)

    def call(self, x, height, width, output_attentions=False, training=False):
        y, probs = self.attention(self.layernorm_before(x), height=height, width=width, output_attentions=output_attentions,
                                  training=training)
        x = x + self.drop_path(self.hidden_dropout(y, training=training), training=training)
        y = self.mlp(self.layernorm_after(x), height=height, width=width, training=training)
        return x + self.drop_path(y, training=training), probs


class SegformerStage(Layer):
    """Overlapping patch embeddings, the stage's blocks, LayerNorm; returns a map (internal
    layout), or tokens (B, h * w, C) when ``reshape`` is False (HF's last stage with
    ``reshape_last_stage=False``)."""

    def __init__(self, config, index, drop_paths, **kwargs):
        super().__init__(**kwargs)
        c, d, i = config, self.dtype_policy, index
        self.reshape = i < c.num_encoder_blocks - 1 or c.reshape_last_stage
        self.patch_embeddings = SegformerOverlapPatchEmbeddings(c.patch_sizes[i], c.strides[i], c.hidden_sizes[i],
                                                                dtype=d)
        self.blocks = [
            SegformerLayer(c, c.hidden_sizes[i], c.num_attention_heads[i], c.sr_ratios[i], c.mlp_ratios[i], rate,
                           dtype=d)
            for rate in drop_paths
        ]
        self.layer_norm = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=d)

    def call(self, x, output_attentions=False, training=False):
        """x: a map (internal layout) -> (map, tokens, [probabilities per block])."""
        tokens, height, width = self.patch_embeddings(x)
        attentions = []
        for block in self.blocks:
            tokens, probs = block(tokens, height=height, width=width, output_attentions=output_attentions, training=training)
            attentions.append(probs)
        tokens = self.layer_norm(tokens)
        return unflatten_spatial(tokens, height, width), tokens, attentions


@register_model("AutoModel")
class SegformerModel(VisionBackbone):
    """The Mix Transformer encoder: ``num_encoder_blocks`` stages, each downsampling its input
    (overlapping patch embeddings) and running efficient self-attention blocks over it.

    Returns ``last_hidden_state`` (B, C, h, w) (tokens (B, h * w, C) when
    ``reshape_last_stage=False``), one hidden state per stage, one attention map per block.
    """

    config_class = SegformerConfig
    base_model_prefix = "segformer"
    weight_map = WeightMap(convert_segformer.BACKBONE, prefix="segformer")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = config
        total = sum(c.depths)
        rates = [c.drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # stochastic depth, deeper: more
        self.stages = [
            SegformerStage(c, i, rates[sum(c.depths[:i]): sum(c.depths[: i + 1])], dtype=self.dtype_policy)
            for i in range(c.num_encoder_blocks)
        ]

    def call(self, pixel_values, output_hidden_states=None, output_attentions=None, training=False):
        output_attentions = self.flag("output_attentions", output_attentions)
        x = to_internal(pixel_values)
        states, attentions = [], []
        for stage in self.stages:
            x, tokens, probs = stage(x, output_attentions=output_attentions, training=training)
            states.append(to_channels_first(x) if stage.reshape else tokens)
            attentions.extend(probs)
        return BaseModelOutput(
            last_hidden_state=states[-1],
            hidden_states=tuple(states) if self.flag("output_hidden_states", output_hidden_states) else None,
            attentions=tuple(attentions) if output_attentions else None,
        )


@register_model("AutoModelForImageClassification")
class SegformerForImageClassification(ImageClassificationModel):
    """The encoder, the mean of the last stage's tokens, a linear classifier."""

    backbone_class = SegformerModel
    head_rules = convert_segformer.CLASSIFIER

    def pool(self, outputs, training):
        last = outputs.last_hidden_state
        return ops.mean(last, axis=(2, 3)) if len(last.shape) == 4 else ops.mean(last, axis=1)


class SegformerDecodeHead(Layer):
    """The all-MLP decoder: each stage's map projected to ``decoder_hidden_size`` and resized
    (bilinear) to the first stage's size, concatenated deepest first, fused (1x1 convolution, batch
    norm, ReLU), then classified per pixel (1x1 convolution)."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c, d = config, self.dtype_policy
        self.linear_projections = [Dense(c.decoder_hidden_size, kernel_initializer=normal_init(c.initializer_range),
                                         dtype=d) for _ in range(c.num_encoder_blocks)]
        self.linear_fuse = Conv2D(c.decoder_hidden_size, 1, use_bias=False, dtype=d)
        self.batch_norm = BatchNorm(dtype=d)
        self.dropout = Dropout(c.classifier_dropout_prob, dtype=d)
        self.classifier = Conv2D(c.num_labels, 1, dtype=d)

    def call(self, maps, training=False):
        """maps: each stage's output (internal layout) -> logits (internal layout) at the first stage's size."""
        size = spatial_shape(maps[0])
        projected = []
        for i, (x, proj) in enumerate(zip(maps, self.linear_projections)):
            height, width = spatial_shape(x)
            x = unflatten_spatial(proj(flatten_spatial(x)), height, width)
            projected.append(x if i == 0 else resize_bilinear(x, size))  # stage 0 is already at the size
        x = self.linear_fuse(ops.concatenate(projected[::-1], axis=channel_axis()))
        x = ops.relu(self.batch_norm(x, training=training))
        return self.classifier(self.dropout(x, training=training))


@register_model("AutoModelForSemanticSegmentation")
class SegformerForSemanticSegmentation(VisionInputs, TaskModel):
    """The encoder and the all-MLP decode head: logits (B, num_labels, H / 4, W / 4) for the
    default strides; with ``labels`` (B, H, W), the logits are resized to the labels' size for the
    loss (``semantic_segmentation_loss``)."""

    backbone_class = SegformerModel
    head_rules = convert_segformer.DECODE_HEAD

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        if not config.reshape_last_stage:
            raise ValueError("SegformerForSemanticSegmentation needs reshape_last_stage=True: its decode head reads "
                             "every stage as a map.")
        self.backbone = SegformerModel(config, dtype=self.dtype_policy)
        self.decode_head = SegformerDecodeHead(config, dtype=self.dtype_policy)

    def call(self, pixel_values, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        if labels is not None and self.config.num_labels < 1:
            raise ValueError(f"Number of labels should be >=0: {self.config.num_labels}")
        out = self.backbone(pixel_values, output_hidden_states=True, output_attentions=output_attentions,
                            training=training)
        logits = self.decode_head([to_internal(h) for h in out.hidden_states], training=training)
        loss = None
        if labels is not None:
            labels = ops.convert_to_tensor(labels)
            upsampled = resize_bilinear(logits, labels.shape[-2:])
            if image_data_format() == "channels_first":
                upsampled = ops.transpose(upsampled, (0, 2, 3, 1))
            loss = semantic_segmentation_loss(upsampled, labels, self.config)
        hidden_states = out.hidden_states if self.flag("output_hidden_states", output_hidden_states) else None
        return SemanticSegmenterOutput(loss=loss, logits=to_channels_first(logits), hidden_states=hidden_states,
                                       attentions=out.attentions)
