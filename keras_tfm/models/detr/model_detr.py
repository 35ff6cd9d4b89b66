"""DETR (Carion et al. 2020) as Keras 3 layers: a ResNet with frozen batch norm, a 1x1 input
projection, 2-D sine (or learned) position embeddings, a post-norm encoder-decoder whose
attention adds positions to queries and keys (never values), object queries, class and box
heads, and the panoptic mask head (an attention map per query and an FPN over the backbone).

Images run in the backbone's internal layout (``layers.conv``); the transformer runs on
(B, H * W, C) tokens in HF's row-major order, so its outputs equal HF's whatever the layout.
"""

import math

import keras
from keras import ops

from keras_tfm.layers import (
    MLP,
    Conv2D,
    CrossAttention,
    Dense,
    Dropout,
    Embedding,
    EncoderStack,
    Layer,
    LayerNorm,
    SelfAttention,
    TransformerBlock,
    channel_axis,
    embedding_table,
    flatten_spatial,
    get_activation,
    normal_init,
    padding_mask,
    spatial_shape,
    to_channels_first,
    to_internal,
)
from keras_tfm.layers.resize import downsample_mask, resize_nearest
from keras_tfm.models.base import TaskModel
from keras_tfm.models.detr import convert_detr
from keras_tfm.models.detr.config_detr import DetrConfig
from keras_tfm.models.detr.outputs_detr import DetrModelOutput, DetrObjectDetectionOutput, DetrSegmentationOutput
from keras_tfm.models.vision_tasks import VisionBackbone
from keras_tfm.registry import register_model

LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default
MASKED = -1e9  # the score of a padded position in the attention maps: its probability is 0


def sine_position_embedding(mask, num_features, dtype, temperature=10000.0, scale=2 * math.pi):
    """HF's ``DetrSinePositionEmbedding`` (normalize=True): ``mask`` (B, h, w) -> (B, h * w, 2 * num_features),
    y features then x features, each interleaving sin and cos."""
    m = ops.cast(mask, dtype)
    y = ops.cumsum(m, axis=1)
    x = ops.cumsum(m, axis=2)
    eps = 1e-6
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    d = ops.arange(num_features, dtype="int32")
    dim_t = ops.power(ops.cast(temperature, dtype), ops.cast(2 * (d // 2), dtype) / num_features)
    even = ops.equal(d % 2, 0)  # features 2k and 2k+1 share dim_t: sin on the even one, cos on the odd one

    def embed(z):
        z = z[..., None] / dim_t
        return ops.where(even, ops.sin(z), ops.cos(z))

    pos = ops.concatenate([embed(y), embed(x)], axis=-1)  # (B, h, w, 2F)
    return ops.reshape(pos, (ops.shape(pos)[0], -1, 2 * num_features))


class DetrLearnedPositionEmbedding(Layer):
    """HF's learned position embeddings: a row and a column table of 50 entries; x features first."""

    def __init__(self, num_features, **kwargs):
        super().__init__(**kwargs)
        self.num_features = num_features
        init = keras.initializers.RandomUniform(0.0, 1.0)
        self.row_embeddings = Embedding(50, num_features, embeddings_initializer=init, dtype=self.dtype_policy)
        self.column_embeddings = Embedding(50, num_features, embeddings_initializer=init, dtype=self.dtype_policy)

    def call(self, mask):
        batch, h, w = ops.shape(mask)[0], ops.shape(mask)[1], ops.shape(mask)[2]
        x_emb = self.column_embeddings(ops.arange(w, dtype="int32"))  # (w, F)
        y_emb = self.row_embeddings(ops.arange(h, dtype="int32"))  # (h, F)
        pos = ops.concatenate([ops.broadcast_to(x_emb[None], (h, w, self.num_features)),
                               ops.broadcast_to(y_emb[:, None], (h, w, self.num_features))], axis=-1)
        pos = ops.reshape(pos, (1, -1, 2 * self.num_features))
        return ops.broadcast_to(pos, (batch, ops.shape(pos)[1], 2 * self.num_features))


def _block(c, heads, ffn_dim, dtype, cross):
    """A post-norm encoder block (or with ``cross``, decoder block) of HF's DETR."""
    def attention(kind):
        return kind(c.d_model, heads, dropout=c.attention_dropout, initializer_range=c.init_std, dtype=dtype)

    def norm():
        return LayerNorm(epsilon=LAYER_NORM_EPS, dtype=dtype)

    return TransformerBlock(
        attention(SelfAttention),
        MLP(c.d_model, ffn_dim, c.activation_function, initializer_range=c.init_std, dropout=c.activation_dropout,
            dtype=dtype),
        attention_norm=norm(), mlp_norm=norm(),
        cross_attention=attention(CrossAttention) if cross else None, cross_attention_norm=norm() if cross else None,
        norm_first=False, dropout=c.dropout, dtype=dtype)


class DetrDecoder(Layer):
    """The decoder: post-norm blocks over the object queries, then a final norm.

    With ``config.auxiliary_loss`` the norm also follows each block, whose normed output feeds the
    next block and is kept as an intermediate state (HF's code, which the checkpoints are run with).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c = config
        self.auxiliary_loss = c.auxiliary_loss
        self.layers = [_block(c, c.decoder_attention_heads, c.decoder_ffn_dim, self.dtype_policy, cross=True)
                       for _ in range(c.decoder_layers)]
        self.layernorm = LayerNorm(epsilon=LAYER_NORM_EPS, dtype=self.dtype_policy)

    def call(self, x, attention_mask, encoder_hidden_states, encoder_mask, positions, encoder_positions,
             output_hidden_states=False, output_attentions=False, training=False):
        hidden, attentions, cross_attentions, intermediate = [x], [], [], []
        for block in self.layers:
            x, _, _, probs, cross_probs = block(
                x, attention_mask, encoder_hidden_states=encoder_hidden_states, cross_mask=encoder_mask,
                positions=positions, encoder_positions=encoder_positions, output_attentions=output_attentions,
                training=training)
            hidden.append(x)
            attentions.append(probs)
            cross_attentions.append(cross_probs)
            if self.auxiliary_loss:
                x = self.layernorm(x)
                intermediate.append(x)
        x = self.layernorm(x)
        return {
            "last_hidden_state": x,
            "hidden_states": tuple(hidden) if output_hidden_states else None,
            "attentions": tuple(attentions) if output_attentions else None,
            "cross_attentions": tuple(cross_attentions) if output_attentions else None,
            "intermediate_hidden_states": ops.stack(intermediate) if intermediate else None,
        }


@register_model("AutoModel")
class DetrModel(VisionBackbone):
    """The ResNet backbone (frozen batch norm), input projection, position embeddings, encoder and decoder.

    Call: ``pixel_values`` (B, C, H, W), ``pixel_mask`` (B, H, W) 1 on real pixels (default all
    ones); or ``inputs_embeds`` (B, h * w, d_model), flattened features of a square map, instead of
    the pixels. Returns ``DetrModelOutput``.
    """

    config_class = DetrConfig
    base_model_prefix = "model"
    dummy_image_size = 64  # a map of 2 x 2 after the backbone's stride of 32

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        from keras_tfm.models.resnet import ResNetBackbone  # the backbone's package is optional at import

        c, d = config, self.dtype_policy
        self.resnet_config = c.resnet_config()
        self.backbone = ResNetBackbone(self.resnet_config, frozen_batch_norm=True, dtype=d)
        convert_detr.freeze_backbone_as_hf(self.backbone, c.use_timm_backbone)
        self.position_embedding = (DetrLearnedPositionEmbedding(c.d_model // 2, dtype=d)
                                   if c.position_embedding_type == "learned" else None)
        self.query_position_embeddings = Embedding(c.num_queries, c.d_model,
                                                   embeddings_initializer=normal_init(c.init_std), dtype=d)
        self.query_position_embeddings.build()  # its table is read directly, never looked up
        self.input_projection = Conv2D(c.d_model, 1, dtype=d)
        self.encoder = EncoderStack(
            [_block(c, c.encoder_attention_heads, c.encoder_ffn_dim, d, cross=False) for _ in range(c.encoder_layers)],
            dtype=d)
        self.decoder = DetrDecoder(c, dtype=d)
        self.embedding_dropout = Dropout(c.dropout, dtype=d) if c.dropout else None

    @property
    def weight_map(self):
        # the backbone's names depend on the config (transformers' ResNet or timm's)
        return convert_detr.weight_map_for(self.config, "base")

    def build(self, *args, **kwargs):
        # sublayers build on their first call; the ResNet is run through feature_maps_internal, not called
        self.backbone.built = True
        self.built = True

    def freeze_backbone(self):
        """No backbone variable is trained."""
        self.backbone.trainable = False

    def unfreeze_backbone(self):
        """Every backbone variable is trained (its batch norms stay frozen)."""
        self.backbone.trainable = True

    def positions(self, mask, dtype):
        """(B, h, w) mask -> (B, h * w, d_model) spatial position embeddings."""
        if self.position_embedding is not None:
            return ops.cast(self.position_embedding(mask), dtype)
        return sine_position_embedding(mask, self.config.d_model // 2, dtype)

    def features(self, pixel_values, pixel_mask):
        """The backbone's maps (internal layout), the projected last map and its mask (B, h, w)."""
        pixel_values = ops.convert_to_tensor(pixel_values, self.compute_dtype)
        if pixel_values.shape[1] is not None and pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(f"{type(self).__name__}: pixel_values has {pixel_values.shape[1]} channels, the config "
                             f"says num_channels={self.config.num_channels} (pixel_values is (B, C, H, W)).")
        if pixel_mask is None:
            pixel_mask = ops.ones((ops.shape(pixel_values)[0], *ops.shape(pixel_values)[2:]), "int32")
        maps = self.backbone.feature_maps_internal(to_internal(pixel_values))
        mask = downsample_mask(ops.convert_to_tensor(pixel_mask), spatial_shape(maps[-1]))
        return maps, self.input_projection(maps[-1]), mask

    def run(self, pixel_values=None, pixel_mask=None, decoder_attention_mask=None, encoder_outputs=None,
            inputs_embeds=None, decoder_inputs_embeds=None, output_hidden_states=None, output_attentions=None,
            training=False):
        """``(DetrModelOutput, extras)``; ``extras`` holds what the heads reuse: the backbone maps and
        the projected map (internal layout), the feature mask (B, h, w)."""
        output_hidden_states = self.flag("output_hidden_states", output_hidden_states)
        output_attentions = self.flag("output_attentions", output_attentions)
        extras = {}
        if inputs_embeds is None:
            if pixel_values is None:
                raise ValueError(f"{type(self).__name__}: pass pixel_values or inputs_embeds.")
            maps, projected, mask = self.features(pixel_values, pixel_mask)
            extras.update(maps=maps, projected=projected, mask=mask)
            tokens = flatten_spatial(projected)
        else:
            tokens = ops.convert_to_tensor(inputs_embeds, self.compute_dtype)
            side = int(tokens.shape[1] ** 0.5)
            if side * side != tokens.shape[1]:
                raise ValueError(f"{type(self).__name__}: inputs_embeds must flatten a square map; got "
                                 f"{tokens.shape[1]} positions.")
            if pixel_mask is None:
                mask = ops.ones((ops.shape(tokens)[0], side, side), "bool")
            else:
                mask = downsample_mask(ops.convert_to_tensor(pixel_mask), (side, side))
            extras["mask"] = mask
        spatial = self.positions(mask, tokens.dtype)
        flat_mask = ops.reshape(mask, (ops.shape(mask)[0], -1))
        if encoder_outputs is None:
            x = tokens
            if training and self.embedding_dropout is not None:
                x = self.embedding_dropout(x, training=True)
            x, hidden, attentions = self.encoder(x, flat_mask, output_hidden_states=output_hidden_states,
                                                 output_attentions=output_attentions, training=training,
                                                 positions=spatial)
            encoder_outputs = {"last_hidden_state": x, "hidden_states": hidden, "attentions": attentions}
        elif not isinstance(encoder_outputs, dict):
            encoder_outputs = {"last_hidden_state": encoder_outputs[0]}
        memory = encoder_outputs["last_hidden_state"]
        batch = ops.shape(memory)[0]
        query_pos = embedding_table(self.query_position_embeddings, memory.dtype)
        query_pos = ops.broadcast_to(query_pos[None], (batch, *query_pos.shape))
        queries = (ops.zeros_like(query_pos) if decoder_inputs_embeds is None
                   else ops.convert_to_tensor(decoder_inputs_embeds, memory.dtype))
        decoded = self.decoder(queries, padding_mask(decoder_attention_mask), memory, padding_mask(flat_mask),
                               query_pos, spatial, output_hidden_states=output_hidden_states,
                               output_attentions=output_attentions, training=training)
        out = DetrModelOutput(
            last_hidden_state=decoded["last_hidden_state"],
            decoder_hidden_states=decoded["hidden_states"], decoder_attentions=decoded["attentions"],
            cross_attentions=decoded["cross_attentions"], encoder_last_hidden_state=memory,
            encoder_hidden_states=encoder_outputs.get("hidden_states"),
            encoder_attentions=encoder_outputs.get("attentions"),
            intermediate_hidden_states=decoded["intermediate_hidden_states"])
        return out, extras

    def call(self, pixel_values=None, pixel_mask=None, decoder_attention_mask=None, encoder_outputs=None,
             inputs_embeds=None, decoder_inputs_embeds=None, output_hidden_states=None, output_attentions=None,
             training=False):
        return self.run(pixel_values, pixel_mask, decoder_attention_mask, encoder_outputs, inputs_embeds,
                        decoder_inputs_embeds, output_hidden_states, output_attentions, training)[0]


class DetrMLPPredictionHead(Layer):
    """``num_layers`` dense layers, relu between them (the box head: d_model -> d_model -> d_model -> 4)."""

    def __init__(self, hidden_dim, output_dim, num_layers, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.layers = [Dense(hidden_dim if i < num_layers - 1 else output_dim,
                             kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
                       for i in range(num_layers)]

    def call(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = ops.relu(x)
        return x


class _DetrTask(TaskModel):
    """DETR's detection heads on ``DetrModel``: class logits (``num_labels`` + "no object") and boxes."""

    config_class = DetrConfig
    base_model_prefix = "model"
    main_input_name = "pixel_values"
    head = "detection"

    @property
    def weight_map(self):
        # the backbone's names depend on the config (transformers' ResNet or timm's)
        return convert_detr.weight_map_for(self.config, self.head)

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = DetrModel(config, dtype=self.dtype_policy)
        self.class_labels_classifier = self.dense(config.num_labels + 1)
        self.bbox_predictor = DetrMLPPredictionHead(config.d_model, 4, 3, config.init_std, dtype=self.dtype_policy)

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    def build(self, *args, **kwargs):
        self.backbone.build()  # sublayers build on their first call
        self.built = True

    def heads(self, hidden):
        """(logits, pred_boxes) of decoder states (..., Q, d_model)."""
        return self.class_labels_classifier(hidden), ops.sigmoid(self.bbox_predictor(hidden))

    def detection_loss(self, logits, pred_boxes, labels, out, pred_masks=None):
        """(loss, loss_dict, auxiliary_outputs) of ``labels`` (HF's list of target dicts)."""
        from keras_tfm.models.detr.loss_detr import detr_loss  # the Hungarian matcher needs scipy

        auxiliary = None
        if self.config.auxiliary_loss:
            aux_logits, aux_boxes = self.heads(out.intermediate_hidden_states[:-1])
            auxiliary = [{"logits": aux_logits[i], "pred_boxes": aux_boxes[i]} for i in range(aux_logits.shape[0])]
        loss, loss_dict = detr_loss(logits, pred_boxes, labels, self.config, pred_masks=pred_masks,
                                    auxiliary_outputs=auxiliary)
        return loss, loss_dict, auxiliary


def _states(out):
    return {k: out.get(k) for k in ("decoder_hidden_states", "decoder_attentions", "cross_attentions",
                                    "encoder_last_hidden_state", "encoder_hidden_states", "encoder_attentions")}


@register_model("AutoModelForObjectDetection")
class DetrForObjectDetection(_DetrTask):
    """``DetrModel`` with the class head (``logits`` (B, Q, num_labels + 1)) and the box head
    (``pred_boxes`` (B, Q, 4), normalized cx, cy, w, h); with ``labels``, DETR's matching loss."""

    def call(self, pixel_values=None, pixel_mask=None, decoder_attention_mask=None, encoder_outputs=None,
             inputs_embeds=None, decoder_inputs_embeds=None, labels=None, output_hidden_states=None,
             output_attentions=None, training=False):
        out, _ = self.backbone.run(pixel_values, pixel_mask, decoder_attention_mask, encoder_outputs, inputs_embeds,
                                   decoder_inputs_embeds, output_hidden_states, output_attentions, training)
        logits, pred_boxes = self.heads(out.last_hidden_state)
        loss = loss_dict = auxiliary = None
        if labels is not None:
            loss, loss_dict, auxiliary = self.detection_loss(logits, pred_boxes, labels, out)
        return DetrObjectDetectionOutput(loss=loss, loss_dict=loss_dict, logits=logits, pred_boxes=pred_boxes,
                                         auxiliary_outputs=auxiliary, last_hidden_state=out.last_hidden_state,
                                         **_states(out))


class DetrMHAttentionMap(Layer):
    """The attention of each query over the encoder's map, softmaxed jointly over heads and
    positions (no values): (B, Q, d), (B, h * w, d) -> (B, Q, N, h * w)."""

    def __init__(self, hidden_size, num_heads, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        init = keras.initializers.GlorotUniform()  # HF's xavier_uniform_
        self.q_proj = Dense(hidden_size, kernel_initializer=init, dtype=self.dtype_policy)
        self.k_proj = Dense(hidden_size, kernel_initializer=init, dtype=self.dtype_policy)

    def call(self, queries, memory, mask):
        b, q, s = ops.shape(queries)[0], ops.shape(queries)[1], ops.shape(memory)[1]
        qh = ops.reshape(self.q_proj(queries), (b, q, self.num_heads, self.head_dim))
        kh = ops.reshape(self.k_proj(memory), (b, s, self.num_heads, self.head_dim))
        scores = ops.einsum("bqnh,bsnh->bqns", qh * (self.head_dim ** -0.5), kh)
        scores = ops.where(mask[:, None, None, :], scores, ops.cast(MASKED, scores.dtype))
        probs = ops.softmax(ops.reshape(ops.cast(scores, "float32"), (b, q, -1)), axis=-1)
        return ops.cast(ops.reshape(probs, (b, q, self.num_heads, s)), queries.dtype)


def mask_head_init():
    """HF's ``kaiming_uniform_(a=1)`` of the mask head's convolutions: U(+-sqrt(3 / fan_in))."""
    return keras.initializers.VarianceScaling(1.0, mode="fan_in", distribution="uniform")


class DetrConvBlock(Layer):
    """Conv 3x3 -> GroupNorm(min(8, C)) -> activation."""

    def __init__(self, channels, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.conv = Conv2D(channels, 3, padding=1, kernel_initializer=mask_head_init(), dtype=self.dtype_policy)
        self.norm = keras.layers.GroupNormalization(min(8, channels), axis=channel_axis(), epsilon=1e-5,
                                                    dtype=self.dtype_policy)
        self.act = get_activation(activation)

    def call(self, x):
        return self.act(self.norm(self.conv(x)))


class DetrFPNFusionStage(Layer):
    """Upsamples the masks' features to an FPN map's size (nearest), adds the adapted map, refines."""

    def __init__(self, current_channels, output_channels, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.fpn_adapter = Conv2D(current_channels, 1, kernel_initializer=mask_head_init(), dtype=self.dtype_policy)
        self.refine = DetrConvBlock(output_channels, activation, dtype=self.dtype_policy)

    def call(self, x, fpn_map, num_queries):
        # the 1x1 adapter runs once per image, then its output is repeated for each query (HF repeats first)
        fpn = ops.repeat(self.fpn_adapter(fpn_map), num_queries, axis=0)
        return self.refine(fpn + resize_nearest(x, spatial_shape(fpn)))


class DetrMaskHeadSmallConv(Layer):
    """The mask head: per query, the projected map and its attention maps through two conv blocks,
    three FPN fusions (backbone stages 3, 2, 1), and a 3x3 conv to one mask logit per pixel."""

    def __init__(self, input_channels, hidden_size, activation="relu", **kwargs):
        super().__init__(**kwargs)
        if input_channels % 8:
            raise ValueError(f"DetrMaskHeadSmallConv: d_model + encoder_attention_heads = {input_channels} must be a "
                             "multiple of 8 (GroupNorm's groups).")
        d = self.dtype_policy
        self.conv1 = DetrConvBlock(input_channels, activation, dtype=d)
        self.conv2 = DetrConvBlock(hidden_size // 2, activation, dtype=d)
        self.fpn_stages = [DetrFPNFusionStage(hidden_size // 2 ** i, hidden_size // 2 ** (i + 1), activation, dtype=d)
                           for i in (1, 2, 3)]
        self.output_conv = Conv2D(1, 3, padding=1, kernel_initializer=mask_head_init(), dtype=d)

    def call(self, features, attention_maps, fpn_maps):
        """All in the internal layout: features, the projected map of each image (B, d_model channels);
        attention_maps, each query's attention over it (B * Q images of N channels); fpn_maps, the
        backbone's stage 3, 2 and 1 maps. Returns (B * Q) one-channel mask logits at stage 1's size."""
        num_queries = ops.shape(attention_maps)[0] // ops.shape(features)[0]
        x = ops.concatenate([ops.repeat(features, num_queries, axis=0), attention_maps], axis=channel_axis())
        x = self.conv2(self.conv1(x))
        for stage, fpn_map in zip(self.fpn_stages, fpn_maps):
            x = stage(x, fpn_map, num_queries=num_queries)
        return self.output_conv(x)


@register_model("AutoModelForImageSegmentation")
class DetrForSegmentation(_DetrTask):
    """``DetrForObjectDetection`` plus ``pred_masks`` (B, Q, H / 4, W / 4) logits from the mask head
    (DETR's panoptic model); needs a backbone giving 4 maps (``out_features`` stage1-stage4)."""

    head = "segmentation"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        d = self.dtype_policy
        self.bbox_attention = DetrMHAttentionMap(config.d_model, config.encoder_attention_heads, dtype=d)
        self.mask_head = DetrMaskHeadSmallConv(config.d_model + config.encoder_attention_heads, config.d_model,
                                               config.activation_function, dtype=d)

    def call(self, pixel_values=None, pixel_mask=None, decoder_attention_mask=None, encoder_outputs=None,
             inputs_embeds=None, decoder_inputs_embeds=None, labels=None, output_hidden_states=None,
             output_attentions=None, training=False):
        if pixel_values is None:
            raise ValueError("DetrForSegmentation needs pixel_values: its mask head reads the backbone's maps.")
        out, extras = self.backbone.run(pixel_values, pixel_mask, decoder_attention_mask, encoder_outputs, None,
                                        decoder_inputs_embeds, output_hidden_states, output_attentions, training)
        maps = extras["maps"]
        if len(maps) < 4:
            raise ValueError(f"DetrForSegmentation needs 4 backbone maps (backbone out_features stage1-stage4); the "
                             f"backbone gives {len(maps)}.")
        hidden = out.last_hidden_state
        logits, pred_boxes = self.heads(hidden)
        mask = extras["mask"]
        b, h, w = ops.shape(mask)[0], ops.shape(mask)[1], ops.shape(mask)[2]
        attention = self.bbox_attention(hidden, out.encoder_last_hidden_state, ops.reshape(mask, (b, -1)))
        q, n = ops.shape(attention)[1], ops.shape(attention)[2]
        attention = ops.reshape(attention, (b * q, n, h, w))  # channels first: one map per head
        seg = self.mask_head(extras["projected"], to_internal(attention), [maps[2], maps[1], maps[0]])
        seg = to_channels_first(seg)  # (B * Q, 1, H', W')
        pred_masks = ops.reshape(seg, (b, q, ops.shape(seg)[2], ops.shape(seg)[3]))
        loss = loss_dict = auxiliary = None
        if labels is not None:
            loss, loss_dict, auxiliary = self.detection_loss(logits, pred_boxes, labels, out, pred_masks=pred_masks)
        return DetrSegmentationOutput(loss=loss, loss_dict=loss_dict, logits=logits, pred_boxes=pred_boxes,
                                      pred_masks=pred_masks, auxiliary_outputs=auxiliary,
                                      last_hidden_state=out.last_hidden_state, **_states(out))

