"""ViLT (Kim et al. 2021) as Keras 3 layers: BERT's text embeddings and ViT's patch embeddings (with
position embeddings resized to each image's patch grid) in one pre-norm transformer; the pixel mask of a
padded batch says which patches are real."""

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Layer,
    LayerNorm,
    TextEmbeddings,
    downsample_mask,
    encoder_stack,
    flatten_spatial,
    get_activation,
    normal_init,
    resize_per_sample,
    spatial_shape,
    static_dim,
    to_internal,
)
from keras_tfm.losses import binary_cross_entropy_with_logits
from keras_tfm.modeling_outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from keras_tfm.models.base import Backbone, TaskModel
from keras_tfm.models.encoder_tasks import first_token
from keras_tfm.models.vilt import convert_vilt
from keras_tfm.models.vilt.config_vilt import ViltConfig
from keras_tfm.registry import register_model

CLASSIFIER_LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default, which HF's VQA head keeps


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def select_patches(patch_mask, lengths, max_image_length=-1):
    """The patches each image keeps, as HF's ViLT picks them: (B, L) indices into the (B, N) patches.

    Every row holds its real patches first (``patch_mask`` 1, in row-major order), then padding
    patches. ``L`` is the largest ``lengths`` (each image's patch height x width) of the batch, capped
    at ``max_image_length`` when that is positive; ``L = N`` (or the cap) where the mask is known only
    at run time (compiled: jit, tf.function, torch.jit.trace), which changes no real token's output and
    no logits: the extra padding patches are masked out of attention.

    HF draws the patches with ``torch.multinomial``: a random order of the real patches of the
    longest images, random padding patches (all equal when the padded pixels are zero, as the image
    processor makes them), and a random subset when an image has more than ``max_image_length`` real
    patches. Here the order is row-major, and an image over the cap keeps evenly spaced patches
    (``floor(k * count / L)``): deterministic, and covering the whole image.
    """
    num_patches = ops.shape(patch_mask)[1]  # a tensor where a TF graph does not know it
    index = ops.arange(num_patches, dtype="int32")[None, :]
    order = ops.argsort(ops.where(patch_mask > 0, index, index + num_patches), axis=-1)  # real patches first
    length = backend.concrete_int(ops.max(lengths))  # None while traced: keep every patch
    length = num_patches if length is None else length
    if isinstance(max_image_length, int) and max_image_length > 0:
        length = min(length, max_image_length) if isinstance(length, int) else ops.minimum(length, max_image_length)
    counts = ops.sum(ops.cast(patch_mask, "int32"), axis=1, keepdims=True)  # (B, 1)
    k = ops.arange(length, dtype="int32")[None, :]
    source = ops.where(counts > length, (k * counts) // length, k)  # evenly spaced over an image too long
    return ops.take_along_axis(ops.cast(order, "int32"), source, axis=1)


def gather_tokens(x, select):
    """(B, N, ...) -> (B, L, ...): the rows ``select`` (B, L) names, per batch entry."""
    select = ops.reshape(select, tuple(ops.shape(select)) + (1,) * (len(x.shape) - 2))
    return ops.take_along_axis(x, select, axis=1)


class ViltEmbeddings(Layer):
    """Text and image tokens with their modality embeddings, concatenated, and their attention mask.

    Text: BERT's word + position + token type embeddings, LayerNorm. Image: a [CLS] token and the patch
    projections (a conv with kernel = stride = patch) of the padded batch, with the position embeddings
    resized (bilinear, corners aligned) to each image's patch grid and zero beyond it, then HF's
    patch selection (``select_patches``).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c, d = config, self.dtype_policy
        self.config = c
        self.image_size, self.patch_size = _pair(c.image_size), _pair(c.patch_size)
        self.grid_size = (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])
        self.hidden_size, self.num_channels = c.hidden_size, c.num_channels
        init = normal_init(c.initializer_range)
        self.text_embeddings = TextEmbeddings(c.vocab_size, c.hidden_size, c.max_position_embeddings,
                                              c.type_vocab_size, c.layer_norm_eps, c.hidden_dropout_prob,
                                              c.initializer_range, dtype=d)
        self.patch_embeddings = Conv2D(c.hidden_size, self.patch_size, strides=self.patch_size, dtype=d)
        self.cls_token = self.add_weight(shape=(1, 1, c.hidden_size), initializer=init, name="cls_token")
        self.position_embeddings = self.add_weight(
            shape=(1, self.grid_size[0] * self.grid_size[1] + 1, c.hidden_size), initializer=init,
            name="position_embeddings")
        self.modality_embedding = Embedding(c.modality_type_vocab_size, c.hidden_size, embeddings_initializer=init,
                                            dtype=d)
        self.dropout = Dropout(c.hidden_dropout_prob, dtype=d)

    def visual_embed(self, pixel_values, pixel_mask, training=False):
        """pixel_values (B, C, H, W), pixel_mask (B, H, W) -> image tokens (B, 1 + L, C) and their mask (B, 1 + L)."""
        channels = static_dim(ops.shape(pixel_values)[1])
        if channels is not None and channels != self.num_channels:
            raise ValueError("Make sure that the channel dimension of the pixel values match with the one set in the "
                             f"configuration. Expected {self.num_channels} but got {channels}.")
        x = self.patch_embeddings(to_internal(ops.cast(pixel_values, self.compute_dtype)))
        size = spatial_shape(x)  # ints, or tensors where a TF graph does not know them (fit on any image size)
        x = flatten_spatial(x)  # (B, N, C)
        batch = ops.shape(x)[0]
        mask = ops.cast(downsample_mask(pixel_mask, size), "int32")  # (B, h, w)
        heights, widths = ops.sum(mask[:, :, 0], axis=1), ops.sum(mask[:, 0, :], axis=1)  # real patch rows / columns
        positions = ops.cast(self.position_embeddings, x.dtype)
        grid = ops.reshape(positions[0, 1:], (*self.grid_size, self.hidden_size))
        patch_positions = ops.reshape(resize_per_sample(grid, heights, widths, size), (batch, -1, self.hidden_size))
        patch_mask = ops.reshape(mask, (batch, -1))  # (B, N)
        select = select_patches(patch_mask, heights * widths, self.config.max_image_length)
        x = gather_tokens(x, select) + gather_tokens(patch_positions, select)  # (B, L, C)
        cls = ops.broadcast_to(ops.cast(self.cls_token, x.dtype) + positions[:, :1], (batch, 1, self.hidden_size))
        x = self.dropout(ops.concatenate([cls, x], axis=1), training=training)
        image_mask = ops.concatenate([ops.ones((batch, 1), "int32"), gather_tokens(patch_mask, select)], axis=1)
        return x, image_mask

    def call(self, input_ids, attention_mask, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, image_token_type_idx=1, training=False):
        text = self.text_embeddings(input_ids, token_type_ids=token_type_ids, training=training)  # (B, T, C)
        if image_embeds is None:
            image, image_mask = self.visual_embed(pixel_values, pixel_mask, training=training)
        else:
            image = ops.cast(image_embeds, text.dtype)
            image_mask = ops.reshape(ops.cast(pixel_mask, "int32"), (ops.shape(image)[0], -1))
        text = text + ops.cast(self.modality_embedding(ops.zeros((1, 1), "int32")), text.dtype)
        image = image + ops.cast(self.modality_embedding(ops.full((1, 1), image_token_type_idx, "int32")), text.dtype)
        mask = ops.concatenate([ops.cast(attention_mask, "int32"), image_mask], axis=1)
        return ops.concatenate([text, image], axis=1), mask


@register_model("AutoModel")
class ViltModel(Backbone):
    """The ViLT transformer: ``last_hidden_state`` (B, T + 1 + L, hidden) (text tokens, then the image's
    [CLS] and patch tokens) after the final norm, and ``pooler_output``: the first token through a dense
    + tanh.

    Call: ``input_ids`` (B, T), ``attention_mask``, ``token_type_ids``, ``pixel_values`` (B, C, H, W) and
    ``pixel_mask`` (B, H, W) as ``ViltProcessor`` makes them (or ``image_embeds`` (B, L, hidden) with
    ``pixel_mask`` (B, L)); ``image_token_type_idx`` picks the image's modality embedding (default 1).
    """

    config_class = ViltConfig
    base_model_prefix = "vilt"
    weight_map = WeightMap(convert_vilt.BACKBONE, prefix="vilt")

    def __init__(self, config, add_pooling_layer=True, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        self.embeddings = ViltEmbeddings(c, dtype=d)
        self.encoder = encoder_stack(
            c.num_hidden_layers, hidden_size=c.hidden_size, num_heads=c.num_attention_heads,
            intermediate_size=c.intermediate_size, activation=c.hidden_act, dropout=c.hidden_dropout_prob,
            attention_dropout=c.attention_probs_dropout_prob, layer_norm_eps=c.layer_norm_eps,
            initializer_range=c.initializer_range, norm_first=True, final_norm=True, qkv_bias=c.qkv_bias, dtype=d)
        self.pooler = (Dense(c.hidden_size, activation=get_activation("tanh"),
                             kernel_initializer=normal_init(c.initializer_range), dtype=d)
                       if add_pooling_layer else None)

    def dummy_inputs(self):
        height, width = _pair(self.config.image_size)
        return {"input_ids": np.array([[1, 2]], dtype="int32"),
                "pixel_values": np.zeros((1, self.config.num_channels, height, width), dtype="float32")}

    def get_input_embeddings(self):
        return self.embeddings.text_embeddings.token_embedding

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, image_token_type_idx=None, output_hidden_states=None, output_attentions=None,
             training=False):
        if input_ids is None:
            raise ValueError("ViltModel needs input_ids.")
        if (pixel_values is None) == (image_embeds is None):
            raise ValueError("ViltModel needs exactly one of pixel_values and image_embeds.")
        batch = ops.shape(input_ids)[0]
        images = pixel_values if pixel_values is not None else image_embeds
        text_batch, image_batch = static_dim(batch), static_dim(ops.shape(images)[0])
        if None not in (text_batch, image_batch) and text_batch != image_batch:
            raise ValueError(f"The text inputs and image inputs need to have the same batch size: {text_batch} texts, "
                             f"{image_batch} images.")
        if attention_mask is None:
            attention_mask = ops.ones(ops.shape(input_ids), "int32")
        if pixel_mask is None:
            shape = ops.shape(pixel_values)[2:] if pixel_values is not None else ops.shape(image_embeds)[1:2]
            pixel_mask = ops.ones((batch, *shape), "int32")  # every pixel real
        x, mask = self.embeddings(input_ids, attention_mask, token_type_ids=token_type_ids, pixel_values=pixel_values,
                                  pixel_mask=pixel_mask, image_embeds=image_embeds,
                                  image_token_type_idx=1 if image_token_type_idx is None else image_token_type_idx,
                                  training=training)
        x, hidden_states, attentions = self.encoder(
            x, mask, output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        pooled = self.pooler(first_token(x)) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states,
                                          attentions=attentions)


class ViltClassifierHead(Layer):
    """HF's ViLT classifiers: dense (``inner_size``) -> LayerNorm -> GELU -> dense (labels); VQA's inner
    size is 2 x hidden, NLVR2's hidden x images."""

    def __init__(self, inner_size, num_labels, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        dense = dict(kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.dense = Dense(inner_size, **dense)
        self.norm = LayerNorm(epsilon=CLASSIFIER_LAYER_NORM_EPS, dtype=self.dtype_policy)
        self.out_proj = Dense(num_labels, **dense)

    def call(self, pooled):
        return self.out_proj(ops.gelu(self.norm(self.dense(pooled)), approximate=False))


class ViltTaskModel(TaskModel):
    """A ``ViltModel`` under ``self.backbone`` and a head; ``run_backbone`` passes the shared inputs on."""

    backbone_class = ViltModel
    backbone_has_pooler = True

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = ViltModel(config, add_pooling_layer=self.backbone_has_pooler, dtype=self.dtype_policy)

    def dummy_inputs(self):
        return self.backbone.dummy_inputs()

    def get_input_embeddings(self):
        return self.backbone.get_input_embeddings()

    def run_backbone(self, input_ids, attention_mask, token_type_ids, pixel_values, pixel_mask, image_embeds,
                     output_hidden_states, output_attentions, training):
        return self.backbone(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             pixel_values=pixel_values, pixel_mask=pixel_mask, image_embeds=image_embeds,
                             output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                             training=training)


@register_model("AutoModelForVisualQuestionAnswering")
class ViltForQuestionAnswering(ViltTaskModel):
    """ViLT with HF's VQA classifier on the pooled output: ``logits`` (B, num_labels), one independent
    score per answer (``config.id2label``); ``sigmoid(logits)`` are the answers' probabilities.

    ``labels`` (B, num_labels): soft multi-label targets in [0, 1] (VQA's answer scores); the loss is
    HF's ``binary_cross_entropy_with_logits(logits, labels) * num_labels``.
    """

    head_rules = convert_vilt.VQA

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.classifier = ViltClassifierHead(2 * config.hidden_size, config.num_labels, config.initializer_range,
                                             dtype=self.dtype_policy)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, pixel_values, pixel_mask, image_embeds,
                                output_hidden_states, output_attentions, training)
        logits = self.classifier(out.pooler_output)  # (B, num_labels)
        loss = None
        if labels is not None:
            loss = binary_cross_entropy_with_logits(logits, labels) * ops.shape(logits)[-1]
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)
