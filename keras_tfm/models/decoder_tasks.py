"""Task models shared by the decoder-only architectures (GPT-2, Llama, Mistral, Qwen2).

An architecture provides a backbone class (its ``*Model``, a ``DecoderModel``) whose ``call`` takes
``(input_ids, attention_mask, position_ids, past_key_values, cache_index, ...)`` and
returns a ``BaseModelOutputWithPast``, plus ``get_input_embeddings()`` and
``cache_spec()``; these classes add the heads and the losses, and the causal LM
``generate()`` (through ``GenerativeModel``).
"""

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule
from keras_tfm.layers import embedding_table, last_positions, tied_lm_logits
from keras_tfm.losses import IGNORE_INDEX, cross_entropy, sequence_classification_loss
from keras_tfm.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast, SequenceClassifierOutputWithPast
from keras_tfm.models.base import Backbone, BackboneTaskModel
from keras_tfm.models.generative import GenerativeModel


class DecoderModel(Backbone):
    """A decoder-only backbone: embeddings, then ``self.decoder`` (a ``DecoderStack``).

    ``output_class``: its output (GPT-2, whose blocks may attend to an encoder, returns HF's
    ``BaseModelOutputWithPastAndCrossAttentions``).
    """

    output_class = BaseModelOutputWithPast

    def run_decoder(self, x, attention_mask, position_ids, past_key_values, cache_index, output_hidden_states,
                    output_attentions, training, encoder_hidden_states=None, encoder_attention_mask=None):
        """``self.decoder`` over the embedded tokens ``x`` (B, T, C), as ``output_class``;
        ``encoder_hidden_states`` (B, S, C) for blocks with cross-attention."""
        x, cache, hidden_states, attentions, cross = self.decoder(
            x, attention_mask, position_ids, cache=past_key_values, cache_index=cache_index,
            encoder_hidden_states=encoder_hidden_states, encoder_attention_mask=encoder_attention_mask,
            output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)
        extra = {} if cross is None else {"cross_attentions": cross}
        return self.output_class(last_hidden_state=x, past_key_values=cache, hidden_states=hidden_states,
                                 attentions=attentions, **extra)


class DecoderTaskModel(BackboneTaskModel):
    def run_backbone(self, input_ids, attention_mask, position_ids, past_key_values, cache_index,
                     output_hidden_states, output_attentions, training, **encoder):
        # keras.Model.__call__: the inputs are tensors already, and the cache must pass as it is.
        # `encoder`: encoder_hidden_states / encoder_attention_mask, passed on only when given
        # (only backbones with cross-attention take them)
        return keras.Model.__call__(
            self.backbone, input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values,
            cache_index=cache_index,
            output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training,
            **{k: v for k, v in encoder.items() if v is not None})


class DecoderForCausalLM(GenerativeModel, DecoderTaskModel):
    """Language modelling head (tied to the input embeddings unless ``tie_word_embeddings=False``)."""

    # lm_head has a tensor of its own only when the config does not tie it to the embeddings
    head_rules = [Rule("lm_head.weight", "lm_head.kernel", TRANSPOSE, optional=True)]
    output_class = CausalLMOutputWithPast

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        tied = getattr(config, "tie_word_embeddings", True)
        self.lm_head = None if tied else self.dense(config.vocab_size, use_bias=False)

    def call(self, input_ids, attention_mask=None, position_ids=None, past_key_values=None, cache_index=None,
             labels=None, logits_to_keep=0, use_cache=None, output_hidden_states=None, output_attentions=None,
             training=False, encoder_hidden_states=None, encoder_attention_mask=None):
        """Logits (B, T, vocab) and, with ``labels``, the next-token loss; ``encoder_hidden_states``
        (B, S, C) / ``encoder_attention_mask`` (B, S) for a backbone with cross-attention."""
        out = self.run_backbone(input_ids, attention_mask, position_ids, past_key_values, cache_index,
                                output_hidden_states, output_attentions, training,
                                encoder_hidden_states=encoder_hidden_states,
                                encoder_attention_mask=encoder_attention_mask)
        h = last_positions(out.last_hidden_state, logits_to_keep)  # (B, T', C)
        if self.lm_head is None:
            logits = tied_lm_logits(h, embedding_table(self.get_input_embeddings(), h.dtype))
        else:
            logits = self.lm_head(h)
        loss = None
        if labels is not None:  # HF: predict token t+1 from positions <= t
            labels = ops.cast(labels, "int32")
            shifted = ops.concatenate([labels[:, 1:], ops.full_like(labels[:, :1], IGNORE_INDEX)], axis=1)
            loss = cross_entropy(logits, shifted)
        extra = {} if out.get("cross_attentions") is None else {"cross_attentions": out["cross_attentions"]}
        return self.output_class(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                 hidden_states=out.hidden_states, attentions=out.attentions, **extra)


class DecoderForSequenceClassification(DecoderTaskModel):
    """Classification on the last non-padding token (``config.pad_token_id``), as HF does."""

    head_rules = [Rule("score.weight", "score.kernel", TRANSPOSE)]

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.score = self.dense(config.num_labels, use_bias=False)

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
