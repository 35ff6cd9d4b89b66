"""Encoder-decoder models (BART, T5): the backbone interface and the task logic written once.

An architecture's backbone subclasses ``EncoderDecoderModel`` and defines

- ``run_encoder(input_ids, attention_mask, output_hidden_states, output_attentions, training)``
  -> ``BaseModelOutput``;
- ``run_decoder(decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
  decoder_position_ids, past_key_values, cache_index, output_hidden_states, output_attentions,
  training)`` -> ``(last state, new cache or None, hidden states, attentions, cross attentions)``
  (a ``DecoderStack``'s return; ``encoder_hidden_states=None`` reads the cache's cross part);
- ``cache_spec()`` -> ``(layers, kv heads, head dim)`` and ``get_input_embeddings()``.

Its task models subclass the classes here and set ``backbone_class`` (and ``head_rules``).
``Seq2SeqForConditionalGeneration`` is what ``generate()`` drives through the
encoder-decoder stepper (``encode`` once, then ``call`` with ``encoder_hidden_states`` or the
cache), and what the Trainer and ``fit`` train from ``labels``.
"""

import keras
from keras import ops

from keras_tfm.layers import last_positions
from keras_tfm.losses import IGNORE_INDEX, cross_entropy
from keras_tfm.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from keras_tfm.models.base import Backbone, BackboneTaskModel
from keras_tfm.models.generative import GenerativeModel


def shift_tokens_right(labels, pad_token_id, decoder_start_token_id):
    """The decoder's inputs for ``labels`` (B, T): ``decoder_start_token_id`` then the labels but
    the last, with -100 read as ``pad_token_id`` (teacher forcing, as Hugging Face does)."""
    if decoder_start_token_id is None:
        raise ValueError("config.decoder_start_token_id is not set: it is needed to make decoder_input_ids from "
                         "labels.")
    if pad_token_id is None:
        raise ValueError("config.pad_token_id is not set: it is needed to make decoder_input_ids from labels.")
    labels = ops.cast(labels, "int32")
    shifted = ops.concatenate([ops.full_like(labels[:, :1], decoder_start_token_id), labels[:, :-1]], axis=1)
    return ops.where(ops.equal(shifted, IGNORE_INDEX), ops.full_like(shifted, pad_token_id), shifted)


def encoder_states(encoder_outputs):
    """The last hidden state of ``encoder_outputs`` (a ``BaseModelOutput``, a tuple or a tensor)."""
    if isinstance(encoder_outputs, dict):
        return encoder_outputs["last_hidden_state"]
    if isinstance(encoder_outputs, (tuple, list)):
        return encoder_outputs[0]
    return encoder_outputs


class EncoderDecoderModel(Backbone):
    """An encoder-decoder backbone (see the module docstring for what a subclass defines)."""

    def default_decoder_input_ids(self, input_ids):
        """The decoder's inputs when the call gives neither ``decoder_input_ids`` nor labels
        (BART: ``input_ids`` shifted right); None: the call must give them."""
        return None

    def call(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             decoder_position_ids=None, encoder_outputs=None, encoder_hidden_states=None, past_key_values=None,
             cache_index=None, use_cache=None, output_hidden_states=None, output_attentions=None, training=False):
        hidden, attentions = self.flag("output_hidden_states", output_hidden_states), self.flag(
            "output_attentions", output_attentions)
        if encoder_outputs is not None:
            encoder_hidden_states = encoder_states(encoder_outputs)
            if not isinstance(encoder_outputs, BaseModelOutput):
                encoder_outputs = BaseModelOutput(last_hidden_state=encoder_hidden_states)
        elif encoder_hidden_states is None and input_ids is not None:
            encoder_outputs = self.run_encoder(input_ids, attention_mask, hidden, attentions, training)
            encoder_hidden_states = encoder_outputs.last_hidden_state
        if decoder_input_ids is None:
            decoder_input_ids = None if input_ids is None else self.default_decoder_input_ids(input_ids)
            if decoder_input_ids is None:
                raise ValueError(f"{type(self).__name__} needs decoder_input_ids (or labels, in a model with an LM "
                                 "head).")
        x, cache, decoder_hidden, decoder_attentions, cross = self.run_decoder(
            decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask, decoder_position_ids,
            past_key_values, cache_index, hidden, attentions, training)
        encoder_outputs = encoder_outputs or {}
        return Seq2SeqModelOutput(
            last_hidden_state=x, past_key_values=cache, decoder_hidden_states=decoder_hidden,
            decoder_attentions=decoder_attentions, cross_attentions=cross,
            encoder_last_hidden_state=encoder_outputs.get("last_hidden_state", encoder_hidden_states),
            encoder_hidden_states=encoder_outputs.get("hidden_states"),
            encoder_attentions=encoder_outputs.get("attentions"))


class Seq2SeqTaskModel(BackboneTaskModel):
    """A task model over an ``EncoderDecoderModel`` backbone (``self.backbone``)."""

    def encode(self, input_ids, attention_mask=None):
        """The encoder's last hidden state (B, S, C) for ``input_ids`` (what generation caches)."""
        return self.backbone.run_encoder(input_ids, attention_mask, False, False, False).last_hidden_state

    def get_encoder(self):
        """A callable ``(input_ids, attention_mask=None) -> BaseModelOutput`` (HF's ``get_encoder()``)."""
        backbone = self.backbone

        def encoder(input_ids, attention_mask=None, output_hidden_states=False, output_attentions=False):
            return backbone.run_encoder(ops.convert_to_tensor(input_ids), None if attention_mask is None else
                                        ops.convert_to_tensor(attention_mask), output_hidden_states,
                                        output_attentions, False)

        return encoder

    def run_backbone(self, **kwargs):
        # keras.Model.__call__: the cache must reach the backbone as it is.
        return keras.Model.__call__(self.backbone, **kwargs)


class Seq2SeqForConditionalGeneration(GenerativeModel, Seq2SeqTaskModel):
    """The language-modelling head of an encoder-decoder (``AutoModelForSeq2SeqLM``).

    Subclasses define ``lm_logits(hidden)`` (B, T, C) -> (B, T, V). With ``labels`` the
    decoder's inputs are the labels shifted right (unless given) and the loss is the mean
    cross-entropy over the labels that are not -100.
    """

    stepper = "encoder_decoder"

    def lm_logits(self, hidden):
        raise NotImplementedError

    def prepare_decoder_input_ids_from_labels(self, labels):
        return shift_tokens_right(ops.convert_to_tensor(labels), self.config.pad_token_id,
                                  self.config.decoder_start_token_id)

    def call(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
             decoder_position_ids=None, encoder_outputs=None, encoder_hidden_states=None, past_key_values=None,
             cache_index=None, labels=None, logits_to_keep=0, use_cache=None, output_hidden_states=None,
             output_attentions=None, training=False):
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        out = self.run_backbone(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask, decoder_position_ids=decoder_position_ids,
            encoder_outputs=encoder_outputs, encoder_hidden_states=encoder_hidden_states,
            past_key_values=past_key_values, cache_index=cache_index,
            output_hidden_states=self.flag("output_hidden_states", output_hidden_states),
            output_attentions=self.flag("output_attentions", output_attentions), training=training)
        logits = self.lm_logits(last_positions(out.last_hidden_state, logits_to_keep))
        loss = None if labels is None else cross_entropy(logits, labels)
        return Seq2SeqLMOutput(loss=loss, logits=logits, **{k: v for k, v in out.items() if k != "last_hidden_state"})
