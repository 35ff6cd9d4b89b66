"""Wav2Vec2 (Baevski et al. 2020) as Keras 3 layers: raw audio -> a strided conv feature encoder ->
a feature projection -> (SpecAugment in training) -> a convolutional position embedding -> a
transformer encoder; heads for CTC and sequence classification."""

import math

import keras
import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import (
    MLP,
    Conv1D,
    Dense,
    Dropout,
    Layer,
    LayerNorm,
    SelfAttention,
    TransformerBlock,
    WeightNormConv1D,
    channel_axis,
    compute_mask_indices,
    flatten_spatial,
    get_activation,
    image_data_format,
    padding_mask,
)
from keras_tfm.losses import IGNORE_INDEX, cross_entropy, ctc_loss
from keras_tfm.modeling_outputs import CausalLMOutput, SequenceClassifierOutput, Wav2Vec2BaseModelOutput
from keras_tfm.models.base import Backbone, TaskModel
from keras_tfm.models.wav2vec2 import convert_wav2vec2
from keras_tfm.models.wav2vec2.config_wav2vec2 import Wav2Vec2Config
from keras_tfm.registry import register_model


def feat_extract_output_lengths(config, input_lengths):
    """Frames the conv feature encoder makes of ``input_lengths`` samples (ints, numpy or tensors),
    as HF's ``_get_feat_extract_output_lengths``: torch's conv length arithmetic, layer by layer."""
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        input_lengths = (input_lengths - kernel) // stride + 1
    return input_lengths


def feature_vector_attention_mask(config, num_frames, attention_mask):
    """A (B, samples) 1/0 mask of right-padded audio -> the (B, frames) bool mask of the frames the
    real samples make (HF's ``_get_feature_vector_attention_mask``)."""
    lengths = feat_extract_output_lengths(config, ops.sum(ops.cast(attention_mask, "int32"), axis=-1))
    return ops.arange(num_frames, dtype="int32")[None, :] < ops.cast(lengths, "int32")[:, None]


class Wav2Vec2ConvLayer(Layer):
    """One layer of the feature encoder: conv -> norm (GroupNorm with one group per channel, a
    LayerNorm over channels, or none) -> activation, in the internal signal layout."""

    def __init__(self, config, layer_id, norm, **kwargs):
        super().__init__(**kwargs)
        d = self.dtype_policy
        self.conv = Conv1D(config.conv_dim[layer_id], config.conv_kernel[layer_id],
                           strides=config.conv_stride[layer_id], use_bias=config.conv_bias,
                           kernel_initializer="he_normal", dtype=d)
        if norm == "group":
            self.norm = keras.layers.GroupNormalization(groups=config.conv_dim[layer_id], axis=channel_axis(),
                                                        epsilon=1e-5, dtype=d)
        elif norm == "layer":
            self.norm = LayerNorm(epsilon=1e-5, dtype=d)  # over channels: moved last around it
        else:
            self.norm = None
        self.channels_moved = norm == "layer" and image_data_format() == "channels_first"
        self.act = get_activation(config.feat_extract_activation)

    def call(self, x):
        x = self.conv(x)
        if self.channels_moved:
            x = ops.transpose(self.norm(ops.transpose(x, (0, 2, 1))), (0, 2, 1))
        elif self.norm is not None:
            x = self.norm(x)
        return self.act(x)


class Wav2Vec2FeatureEncoder(Layer):
    """input_values (B, samples) -> features (B, frames, conv_dim[-1]) through the strided convs."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        layers = len(config.conv_dim)
        if config.feat_extract_norm == "group":
            norms = ["group"] + [None] * (layers - 1)
        else:
            norms = ["layer"] * layers
        self.conv_layers = [Wav2Vec2ConvLayer(config, i, norm, dtype=self.dtype_policy) for i, norm in enumerate(norms)]

    def call(self, input_values):
        x = ops.expand_dims(ops.cast(input_values, self.compute_dtype), channel_axis())  # (B, 1, S) or (B, S, 1)
        for layer in self.conv_layers:
            x = layer(x)
        return flatten_spatial(x)  # (B, frames, C)


class Wav2Vec2PositionalConvEmbedding(Layer):
    """(B, T, C) -> relative position information (B, T, C): a grouped, weight-normalised conv of
    ``num_conv_pos_embeddings`` taps with "same" padding (the extra last step of an even kernel
    dropped), then the activation."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        k, c = config.num_conv_pos_embeddings, config.hidden_size
        init = keras.initializers.RandomNormal(stddev=2 * math.sqrt(1 / (k * c)))  # HF's
        self.conv = WeightNormConv1D(c, k, padding=k // 2, groups=config.num_conv_pos_embedding_groups, dim=2,
                                     kernel_initializer=init, dtype=self.dtype_policy)
        self.remove_last = 1 if k % 2 == 0 else 0
        self.act = get_activation(config.feat_extract_activation)

    def call(self, x):
        if image_data_format() == "channels_first":
            x = ops.transpose(x, (0, 2, 1))
        x = flatten_spatial(self.conv(x))  # (B, T + remove_last, C)
        if self.remove_last:
            x = x[:, :-self.remove_last]
        return self.act(x)


class Wav2Vec2Encoder(Layer):
    """Masked frames zeroed -> + positional conv -> transformer layers, post-norm (a norm before
    the first layer) or, with ``do_stable_layer_norm``, pre-norm (a norm after the last).
    LayerDrop in training skips each layer with probability ``layerdrop``.

    Returns ``(last state, hidden states, attentions)``; hidden states are every layer's input and
    the last layer's output (before the stable variant's final norm), as HF's.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        c, d = config, self.dtype_policy
        self.stable = c.do_stable_layer_norm
        self.pos_conv_embed = Wav2Vec2PositionalConvEmbedding(c, dtype=d)
        self.layer_norm = LayerNorm(epsilon=c.layer_norm_eps, dtype=d)
        self.dropout = Dropout(c.hidden_dropout, dtype=d)
        self.layerdrop = c.layerdrop
        self.seed = keras.random.SeedGenerator(0) if c.layerdrop > 0 else None
        self.layers = [
            TransformerBlock(
                SelfAttention(c.hidden_size, c.num_attention_heads, use_bias=True, output_bias=True, fused=True,
                              dropout=c.attention_dropout, initializer_range=c.initializer_range, dtype=d),
                MLP(c.hidden_size, c.intermediate_size, c.hidden_act, initializer_range=c.initializer_range,
                    dropout=c.activation_dropout, dtype=d),
                attention_norm=LayerNorm(epsilon=c.layer_norm_eps, dtype=d),
                mlp_norm=LayerNorm(epsilon=c.layer_norm_eps, dtype=d),
                norm_first=self.stable, dropout=c.hidden_dropout, dtype=d)
            for _ in range(c.num_hidden_layers)
        ]

    def call(self, x, frame_mask=None, output_hidden_states=False, output_attentions=False, training=False):
        if frame_mask is not None:
            x = x * ops.cast(frame_mask, x.dtype)[:, :, None]  # padded frames contribute nothing
        x = x + self.pos_conv_embed(x)
        if not self.stable:
            x = self.layer_norm(x)
        x = self.dropout(x, training=training)
        mask = padding_mask(frame_mask)
        hidden_states, attentions = [x], []
        for block in self.layers:
            y, _, _, probs, _ = block(x, mask, output_attentions=output_attentions, training=training)
            if training and self.layerdrop > 0:
                # the layer runs, and is dropped by selection, so compiled steps keep one graph
                x = ops.where(keras.random.uniform((), seed=self.seed) < self.layerdrop, x, y)
            else:
                x = y
            hidden_states.append(x)
            attentions.append(probs)
        if self.stable:
            x = self.layer_norm(x)
        return (x, tuple(hidden_states) if output_hidden_states else None,
                tuple(attentions) if output_attentions else None)


class Wav2Vec2Inputs:
    """Mixin: ``input_values`` (B, samples) float audio is the main input; dummy inputs a short clip."""

    main_input_name = "input_values"

    def dummy_inputs(self):
        samples = max(feat_extract_input_length(self.config, 2), 400)
        return {"input_values": np.zeros((1, samples), "float32")}

    def _get_feat_extract_output_lengths(self, input_lengths):
        """Frames of ``input_lengths`` samples (HF's name, which its pipelines and collators call)."""
        return feat_extract_output_lengths(self.config, input_lengths)

    def freeze_feature_encoder(self):
        """Stops training the conv feature encoder (HF's ``freeze_feature_encoder``)."""
        self.base_model.feature_extractor.trainable = False


def feat_extract_input_length(config, frames):
    """The fewest samples that give ``frames`` frames."""
    samples = frames
    for kernel, stride in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        samples = (samples - 1) * stride + kernel
    return samples


@register_model("AutoModel")
class Wav2Vec2Model(Wav2Vec2Inputs, Backbone):
    """The Wav2Vec2 encoder: ``last_hidden_state`` (B, frames, hidden), ``extract_features`` (the
    normalised conv features, (B, frames, conv_dim[-1])), ``hidden_states``, ``attentions``.

    ``attention_mask`` (B, samples) marks real samples of right-padded audio; it is reduced to
    frames as HF's. ``mask_time_indices`` (B, frames) replaces those frames by the learned
    ``masked_spec_embed``; in training, without it, SpecAugment draws time (and feature) masks
    from the config when ``apply_spec_augment``.
    """

    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    weight_map = WeightMap(convert_wav2vec2.BACKBONE, prefix="wav2vec2")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        if c.add_adapter or c.adapter_attn_dim is not None:
            raise NotImplementedError("Wav2Vec2 adapters (add_adapter / adapter_attn_dim) are not implemented in "
                                      "keras_tfm; use a config without them.")
        self.feature_extractor = Wav2Vec2FeatureEncoder(c, dtype=d)
        self.feature_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, dtype=d)
        self.feature_projection = Dense(c.hidden_size, dtype=d)
        self.feature_dropout = Dropout(c.feat_proj_dropout, dtype=d)
        self.masked_spec_embed = (
            self.add_weight(shape=(c.hidden_size,), initializer="random_uniform", name="masked_spec_embed")
            if c.mask_time_prob > 0.0 or c.mask_feature_prob > 0.0 else None)
        self.spec_augment_seed = keras.random.SeedGenerator(0)
        self.encoder = Wav2Vec2Encoder(c, dtype=d)

    def mask_hidden_states(self, x, mask_time_indices=None, frame_mask=None, training=False):
        """SpecAugment (HF's ``_mask_hidden_states``): masked time steps take ``masked_spec_embed``,
        masked feature channels become 0."""
        c = self.config
        if not c.apply_spec_augment:
            return x
        frames, hidden = x.shape[1], x.shape[2]  # static: the masks are drawn for these sizes
        if mask_time_indices is None and c.mask_time_prob > 0 and training:
            lengths = None if frame_mask is None else ops.sum(ops.cast(frame_mask, "int32"), axis=-1)
            mask_time_indices = compute_mask_indices((ops.shape(x)[0], frames), c.mask_time_prob, c.mask_time_length,
                                                     lengths, c.mask_time_min_masks, seed=self.spec_augment_seed)
        if mask_time_indices is not None:
            if self.masked_spec_embed is None:
                raise ValueError("mask_time_indices needs a model with masked_spec_embed: set config.mask_time_prob "
                                 "or mask_feature_prob > 0.")
            x = ops.where(ops.cast(mask_time_indices, "bool")[:, :, None], ops.cast(self.masked_spec_embed, x.dtype), x)
        if c.mask_feature_prob > 0 and training:
            features = compute_mask_indices((ops.shape(x)[0], hidden), c.mask_feature_prob, c.mask_feature_length,
                                            None, c.mask_feature_min_masks, seed=self.spec_augment_seed)
            x = ops.where(features[:, None, :], ops.zeros((), x.dtype), x)
        return x

    def call(self, input_values, attention_mask=None, mask_time_indices=None, output_hidden_states=None,
             output_attentions=None, training=False):
        if len(input_values.shape) != 2:
            raise ValueError("Wav2Vec2 expects input_values of shape (batch, samples), got "
                             f"{tuple(input_values.shape)}.")
        features = self.feature_extractor(input_values)  # (B, T, C)
        frame_mask = None
        if attention_mask is not None:
            frame_mask = feature_vector_attention_mask(self.config, ops.shape(features)[1], attention_mask)
        extract_features = self.feature_layer_norm(features)
        x = self.feature_dropout(self.feature_projection(extract_features), training=training)
        x = self.mask_hidden_states(x, mask_time_indices, frame_mask, training)
        x, hidden_states, attentions = self.encoder(
            x, frame_mask, output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        return Wav2Vec2BaseModelOutput(last_hidden_state=x, extract_features=extract_features,
                                       hidden_states=hidden_states, attentions=attentions)


class Wav2Vec2TaskModel(Wav2Vec2Inputs, TaskModel):
    """A Wav2Vec2 backbone under ``wav2vec2`` and a head."""

    backbone_class = Wav2Vec2Model

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = Wav2Vec2Model(config, dtype=self.dtype_policy)

    def freeze_base_model(self):
        """Trains the head only (HF's ``freeze_base_model``)."""
        self.backbone.trainable = False


@register_model("AutoModelForCTC")
class Wav2Vec2ForCTC(Wav2Vec2TaskModel):
    """Wav2Vec2 with a per-frame linear head over the CTC vocabulary (``logits`` (B, frames, vocab)).

    With ``labels`` (B, L) (-100, or any negative value, marks padding), ``loss`` is the CTC loss as
    HF computes it: log-softmax in float32, blank = ``pad_token_id``, input lengths from
    ``attention_mask``, ``config.ctc_loss_reduction`` and ``config.ctc_zero_infinity``.
    """

    head_rules = convert_wav2vec2.CTC_HEAD

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        if config.vocab_size is None:
            raise ValueError("Wav2Vec2ForCTC needs config.vocab_size (the size of the CTC vocabulary, e.g. that of "
                             "the tokenizer's vocab.json).")
        self.dropout = Dropout(config.final_dropout, dtype=self.dtype_policy)
        self.lm_head = self.dense(config.vocab_size)

    def call(self, input_values, attention_mask=None, labels=None, output_hidden_states=None, output_attentions=None,
             training=False):
        out = self.backbone(input_values, attention_mask=attention_mask, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, training=training)
        logits = self.lm_head(self.dropout(out.last_hidden_state, training=training))
        loss = None if labels is None else self.ctc_loss(logits, labels, input_values, attention_mask)
        return CausalLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)

    def ctc_loss(self, logits, labels, input_values, attention_mask=None):
        """HF's Wav2Vec2ForCTC loss of ``logits`` against ``labels`` (negative values: padding)."""
        c = self.config
        _check_labels(labels, c.vocab_size)
        if attention_mask is None:
            sample_lengths = ops.full((ops.shape(input_values)[0],), ops.shape(input_values)[1], "int32")
        else:
            sample_lengths = ops.sum(ops.cast(attention_mask, "int32"), axis=-1)
        input_lengths = feat_extract_output_lengths(c, sample_lengths)
        labels = ops.cast(labels, "int32")
        valid = labels >= 0
        # HF flattens the non-negative labels row by row: each row's targets are its valid labels in order
        length = ops.shape(labels)[1]
        order = ops.argsort(ops.where(valid, 0, length) + ops.arange(length, dtype="int32")[None], axis=-1)
        targets = ops.take_along_axis(ops.where(valid, labels, 0), order, axis=-1)
        target_lengths = ops.sum(ops.cast(valid, "int32"), axis=-1)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=c.pad_token_id,
                        reduction=c.ctc_loss_reduction, zero_infinity=c.ctc_zero_infinity)


def _check_labels(labels, vocab_size):
    """HF's check that every label is in the vocabulary, when the labels have values (not tracing)."""
    try:
        values = np.asarray(ops.convert_to_numpy(labels))
    except Exception:  # a symbolic tensor inside a compiled step: nothing to check yet
        return
    if values.size and values.max() >= vocab_size:
        raise ValueError(f"Label values must be <= vocab_size: {vocab_size}; labels hold {int(values.max())}.")


@register_model("AutoModelForAudioClassification")
class Wav2Vec2ForSequenceClassification(Wav2Vec2TaskModel):
    """Wav2Vec2 for utterance classification (keyword spotting, speaker or emotion labels): the
    last state, or with ``use_weighted_layer_sum`` a softmax-weighted sum of every layer's states,
    -> ``projector`` (``classifier_proj_size``) -> the mean over real frames -> ``classifier``.
    ``loss``: cross-entropy over ``num_labels``, as HF's (whatever ``problem_type`` says)."""

    head_rules = convert_wav2vec2.CLASSIFIER_HEAD

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        if config.add_adapter:
            raise ValueError("Sequence classification does not support the use of Wav2Vec2 adapters "
                             "(config.add_adapter=True)")
        num_layers = config.num_hidden_layers + 1  # the states before the first layer, then each layer's
        self.layer_weights = (
            self.add_weight(shape=(num_layers,), initializer=keras.initializers.Constant(1.0 / num_layers),
                            name="layer_weights") if config.use_weighted_layer_sum else None)
        self.projector = self.dense(config.classifier_proj_size)
        self.classifier = self.dense(config.num_labels)

    def call(self, input_values, attention_mask=None, labels=None, output_hidden_states=None, output_attentions=None,
             training=False):
        weighted = self.layer_weights is not None
        out = self.backbone(input_values, attention_mask=attention_mask,
                            output_hidden_states=True if weighted else output_hidden_states,
                            output_attentions=output_attentions, training=training)
        if weighted:
            states = ops.stack(out.hidden_states, axis=1)  # (B, layers + 1, T, C)
            weights = ops.softmax(ops.cast(self.layer_weights, states.dtype), axis=-1)
            x = ops.sum(states * weights[None, :, None, None], axis=1)
        else:
            x = out.last_hidden_state
        x = self.projector(x)
        if attention_mask is None:
            pooled = ops.mean(x, axis=1)
        else:
            frames = ops.cast(feature_vector_attention_mask(self.config, ops.shape(x)[1], attention_mask), x.dtype)
            pooled = ops.sum(x * frames[:, :, None], axis=1) / ops.sum(frames, axis=1)[:, None]
        logits = self.classifier(pooled)
        loss = None if labels is None else cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
        # as HF's: with use_weighted_layer_sum the hidden states are returned whether asked for or not
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)
