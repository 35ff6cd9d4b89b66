"""ViT (Dosovitskiy et al. 2020) as Keras 3 layers: patches -> [CLS] + patch tokens + positions ->
a pre-norm encoder with a final norm."""

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    Conv2D,
    Dense,
    Dropout,
    Layer,
    encoder_stack,
    flatten_spatial,
    get_activation,
    resize,
    static_dim,
    to_internal,
)
from keras_tfm.modeling_outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from keras_tfm.models.encoder_tasks import first_token
from keras_tfm.models.vision_tasks import ImageClassificationModel, VisionBackbone
from keras_tfm.models.vit import convert_vit
from keras_tfm.models.vit.config_vit import ViTConfig
from keras_tfm.registry import register_model


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class ViTEmbeddings(Layer):
    """pixel_values (B, C, H, W) -> (B, 1 + patches, hidden): the [CLS] token and the patch
    projections (a conv with kernel = stride = patch), plus position embeddings, then dropout.

    ``use_mask_token``: a learned token replaces the patches ``bool_masked_pos`` marks.
    """

    def __init__(self, config, use_mask_token=False, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.patch_size = _pair(config.image_size), _pair(config.patch_size)
        self.num_channels, self.hidden_size = config.num_channels, config.hidden_size
        num_patches = (self.image_size[0] // self.patch_size[0]) * (self.image_size[1] // self.patch_size[1])
        init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
        self.patch_embeddings = Conv2D(config.hidden_size, self.patch_size, strides=self.patch_size,
                                       dtype=self.dtype_policy)
        self.cls_token = self.add_weight(shape=(1, 1, config.hidden_size), initializer=init, name="cls_token")
        self.mask_token = (self.add_weight(shape=(1, 1, config.hidden_size), initializer="zeros", name="mask_token")
                           if use_mask_token else None)
        self.position_embeddings = self.add_weight(shape=(1, num_patches + 1, config.hidden_size), initializer=init,
                                                   name="position_embeddings")
        # configs without the field (BLIP's vision config) have no embedding dropout
        self.dropout = Dropout(getattr(config, "hidden_dropout_prob", 0.0), dtype=self.dtype_policy)

    def interpolate_pos_encoding(self, height, width):
        """The position embeddings resized (torch's bicubic, as HF) to an image of ``height`` x ``width``
        pixels; unchanged where HF leaves them (as many patches as positions, a square image)."""
        positions = self.position_embeddings
        num_positions = positions.shape[1] - 1
        new_h, new_w = height // self.patch_size[0], width // self.patch_size[1]
        if new_h * new_w == num_positions and height == width:
            return positions
        side = int(num_positions ** 0.5)
        grid = ops.reshape(positions[:, 1:], (1, side, side, self.hidden_size))  # (1, h, w, C)
        grid = resize(grid, (new_h, new_w), mode="bicubic", align_corners=False, data_format="channels_last")
        return ops.concatenate([positions[:, :1], ops.reshape(grid, (1, new_h * new_w, self.hidden_size))], axis=1)

    def call(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=False, training=False):
        _, channels, height, width = (static_dim(d) for d in ops.shape(pixel_values))
        if channels is not None and channels != self.num_channels:
            raise ValueError("Make sure that the channel dimension of the pixel values match with the one set in the "
                             f"configuration. Expected {self.num_channels} but got {channels}.")
        x = self.patch_embeddings(to_internal(ops.cast(pixel_values, self.compute_dtype)))
        x = flatten_spatial(x)  # (B, patches, C)
        if bool_masked_pos is not None:
            if self.mask_token is None:
                raise ValueError("bool_masked_pos needs a model built with use_mask_token=True.")
            masked = ops.expand_dims(ops.cast(bool_masked_pos, x.dtype), -1)
            x = x * (1.0 - masked) + ops.cast(self.mask_token, x.dtype) * masked
        cls = ops.broadcast_to(ops.cast(self.cls_token, x.dtype), (ops.shape(x)[0], 1, self.hidden_size))
        x = ops.concatenate([cls, x], axis=1)
        if interpolate_pos_encoding:
            if height is None or width is None:
                raise ValueError("interpolate_pos_encoding=True needs pixel_values of a known height and width; got "
                                 f"shape {tuple(pixel_values.shape)}.")
            positions = self.interpolate_pos_encoding(height, width)
        else:
            if None not in (height, width) and (height, width) != self.image_size:
                raise ValueError(f"Input image size ({height}*{width}) doesn't match model "
                                 f"({self.image_size[0]}*{self.image_size[1]}). Pass interpolate_pos_encoding=True "
                                 "to resize the position embeddings.")
            positions = self.position_embeddings
        return self.dropout(x + ops.cast(positions, x.dtype), training=training)


@register_model("AutoModel")
class ViTModel(VisionBackbone):
    """The ViT encoder: ``last_hidden_state`` (B, 1 + patches, hidden) after the final norm and, with
    ``add_pooling_layer``, ``pooler_output``: the [CLS] state through a dense + ``pooler_act``."""

    config_class = ViTConfig
    base_model_prefix = "vit"
    weight_map = WeightMap(convert_vit.BACKBONE, prefix="vit")

    def __init__(self, config, add_pooling_layer=True, use_mask_token=False, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        self.embeddings = ViTEmbeddings(c, use_mask_token=use_mask_token, dtype=d)
        self.encoder = encoder_stack(
            c.num_hidden_layers, hidden_size=c.hidden_size, num_heads=c.num_attention_heads,
            intermediate_size=c.intermediate_size, activation=c.hidden_act, dropout=c.hidden_dropout_prob,
            attention_dropout=c.attention_probs_dropout_prob, layer_norm_eps=c.layer_norm_eps,
            initializer_range=c.initializer_range, norm_first=True, final_norm=True, qkv_bias=c.qkv_bias, dtype=d)
        self.pooler = (Dense(c.pooler_output_size, activation=get_activation(c.pooler_act),
                             kernel_initializer=keras.initializers.TruncatedNormal(stddev=c.initializer_range), dtype=d)
                       if add_pooling_layer else None)

    def call(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding=None, output_hidden_states=None,
             output_attentions=None, training=False):
        x = self.embeddings(pixel_values, bool_masked_pos=bool_masked_pos,
                            interpolate_pos_encoding=bool(interpolate_pos_encoding), training=training)
        x, hidden_states, attentions = self.encoder(
            x, None, output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        pooled = self.pooler(first_token(x)) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)


@register_model("AutoModelForImageClassification")
class ViTForImageClassification(ImageClassificationModel):
    """ViT with a linear classifier on the final [CLS] state (``interpolate_pos_encoding=True`` for
    other image sizes, as HF)."""

    backbone_class = ViTModel
    head_rules = convert_vit.CLASSIFIER
    output_class = ImageClassifierOutput
    backbone_kwargs = {"add_pooling_layer": False}

    def pool(self, outputs, training):
        return first_token(outputs.last_hidden_state)  # (B, C)
