"""Task models shared by the decoder-only architectures (GPT-2, Llama, Mistral, Qwen2).

An architecture provides a backbone class (its ``*Model``) whose ``call`` takes
``(input_ids, attention_mask, position_ids, past_key_values, cache_index, ...)`` and
returns a ``BaseModelOutputWithPast``, plus ``get_input_embeddings()`` and
``cache_spec()``; these classes add the heads, the losses and ``generate()``.
"""

import os

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule, WeightMap
from keras_tfm.generation import fast_layers as layers
from keras_tfm.generation.kv_cache import last_token_logits
from keras_tfm.generation.utils import GenerationMixin
from keras_tfm.layers.activations import normal_init
from keras_tfm.losses import IGNORE_INDEX, cross_entropy, sequence_classification_loss
from keras_tfm.modeling_outputs import CausalLMOutputWithPast, SequenceClassifierOutputWithPast
from keras_tfm.modeling_utils import PreTrainedModel, _as_input


def _flag(value, default):
    return bool(default if value is None else value)


class DecoderTaskModel(PreTrainedModel):
    backbone_class = None
    backbone_rules = ()  # the architecture's backbone rules (relative to the base model)

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = self.backbone_class(config, dtype=self.dtype_policy)

    def get_input_embeddings(self):
        return self.backbone.get_input_embeddings()

    def __call__(self, *args, **kwargs):
        cache = kwargs.pop("past_key_values", None)
        if cache is None:
            return super().__call__(*args, **kwargs)
        # The KV cache (a list of (keys, values) per layer) must reach `call` as it is.
        return_dict = kwargs.pop("return_dict", None)
        args = [_as_input(a) for a in args]
        kwargs = {k: _as_input(v) for k, v in kwargs.items()}
        outputs = keras.Model.__call__(self, *args, past_key_values=[tuple(layer) for layer in cache], **kwargs)
        return outputs.to_tuple() if return_dict is False else outputs

    def dense(self, units, **kwargs):
        return layers.Dense(units, kernel_initializer=normal_init(self.config.initializer_range),
                                  dtype=self.dtype_policy, **kwargs)

    def run_backbone(self, input_ids, attention_mask, position_ids, past_key_values, cache_index,
                     output_hidden_states, output_attentions, training):
        # keras.Model.__call__: the inputs are tensors already, and the cache must pass as it is.
        return keras.Model.__call__(
            self.backbone, input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values,
            cache_index=cache_index,
            output_hidden_states=_flag(output_hidden_states, self.config.output_hidden_states),
            output_attentions=_flag(output_attentions, self.config.output_attentions), training=training)


def tied_head(h, table):
    """Logits ``h @ table.T``: hidden states (B, T, C) against the embedding table (V, C).

    With one position (a decode step) they are computed as ``table @ h.T``: XLA on CPU then
    reads the table row by row in one library matrix-vector product, where for ``h @ table.T``
    it fused a transpose of the whole table into a slower loop (GPT-2 124M: 6.9 of 28 ms
    per token on JAX). With more positions the (V, B*T) product would cost a transpose of all
    the logits instead.
    """
    if h.shape[1] != 1:
        return ops.matmul(h, ops.transpose(table))
    logits = ops.matmul(table, ops.transpose(h[:, 0, :]))  # (V, B)
    return ops.expand_dims(ops.transpose(logits), 1)


class DecoderForCausalLM(GenerationMixin, DecoderTaskModel):
    """Language modelling head (tied to the input embeddings unless ``tie_word_embeddings=False``)."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        tied = getattr(config, "tie_word_embeddings", True)
        self.lm_head = None if tied else self.dense(config.vocab_size, use_bias=False)
        # The name table depends on the config: a tied head has no tensor of its own.
        head = [Rule("lm_head.weight", None)] if tied else [Rule("lm_head.weight", "lm_head.kernel", TRANSPOSE)]
        self.weight_map = WeightMap(self.backbone_rules, head, prefix=self.base_model_prefix, is_base=False)
        from keras_tfm.generation.configuration_utils import GenerationConfig

        self.generation_config = GenerationConfig.from_model_config(config)

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             labels=None, logits_to_keep=0, use_cache=None, output_hidden_states=None, output_attentions=None,
             training=False):
        out = self.run_backbone(input_ids, attention_mask, position_ids, past_key_values, cache_index,
                                output_hidden_states, output_attentions, training)
        h = last_token_logits(out.last_hidden_state, logits_to_keep)  # (B, T', C)
        if self.lm_head is None:
            logits = tied_head(h, ops.cast(self.get_input_embeddings().embeddings, h.dtype))
        else:
            logits = self.lm_head(h)
        loss = None
        if labels is not None:  # HF: predict token t+1 from positions <= t
            labels = ops.cast(labels, "int32")
            shifted = ops.concatenate([labels[:, 1:], ops.full_like(labels[:, :1], IGNORE_INDEX)], axis=1)
            loss = cross_entropy(logits, shifted)
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                      hidden_states=out.hidden_states, attentions=out.attentions)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        from keras_tfm.generation.configuration_utils import GenerationConfig

        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        hub = {k: kwargs[k] for k in ("revision", "cache_dir", "local_files_only", "token", "subfolder") if k in kwargs}
        try:
            model.generation_config = GenerationConfig.from_pretrained(pretrained_model_name_or_path, **hub)
        except (OSError, ValueError):
            model.generation_config = GenerationConfig.from_model_config(model.config)
        return loaded

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        self.generation_config.save_pretrained(os.fspath(save_directory))


class DecoderForSequenceClassification(DecoderTaskModel):
    """Classification on the last non-padding token (``config.pad_token_id``), as HF does."""

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.score = self.dense(config.num_labels, use_bias=False)
        self.weight_map = WeightMap(self.backbone_rules, [Rule("score.weight", "score.kernel", TRANSPOSE)],
                                    prefix=self.base_model_prefix, is_base=False)

    def call(self, input_ids, attention_mask=None, position_ids=None, labels=None, use_cache=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, position_ids, None, None,
                                output_hidden_states, output_attentions, training)
        logits = self.score(out.last_hidden_state)  # (B, T, labels)
        pad = self.config.pad_token_id
        length = ops.shape(input_ids)[1]
        if pad is None:
            if input_ids.shape[0] is not None and input_ids.shape[0] > 1:
                raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined (config.pad_token_id).")
            last = ops.full((ops.shape(input_ids)[0],), length - 1, dtype="int32")
        else:  # the rightmost non-padding token
            positions = ops.arange(length, dtype="int32")[None, :] * ops.cast(ops.not_equal(input_ids, pad), "int32")
            last = ops.cast(ops.argmax(positions, axis=-1), "int32")
        pooled = ops.take_along_axis(logits, last[:, None, None], axis=1)[:, 0]  # (B, labels)
        loss = None if labels is None else sequence_classification_loss(pooled, labels, self.config)
        return SequenceClassifierOutputWithPast(loss=loss, logits=pooled, hidden_states=out.hidden_states,
                                                attentions=out.attentions)
