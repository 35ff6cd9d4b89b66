"""Task models shared by the encoder architectures (BERT, RoBERTa, DistilBERT, LayoutLM).

An architecture's backbone subclasses ``EncoderModel``; its task models subclass these and
set ``backbone_class`` and ``head_rules``; the task logic (heads, losses, outputs) is
written once here, in each head's ``task_outputs`` (a model with further inputs, LayoutLM's
``bbox``, writes its own ``call`` around it).
"""

import keras
from keras import ops

from keras_tfm.layers import MaskedLMHead, embedding_table
from keras_tfm.losses import cross_entropy, sequence_classification_loss, span_loss
from keras_tfm.modeling_outputs import (
    MaskedLMOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from keras_tfm.models.base import Backbone, TaskModel


class EncoderModel(Backbone):
    """An encoder backbone: ``self.embeddings`` (a ``TextEmbeddings``), then ``self.encoder`` (an
    ``EncoderStack``)."""

    def get_input_embeddings(self):
        return self.embeddings.token_embedding

    def run_encoder(self, x, attention_mask, output_hidden_states, output_attentions, training):
        """``(last state, hidden states, attentions)`` of ``self.encoder`` over the embeddings ``x``."""
        return self.encoder(x, attention_mask, output_hidden_states=self.flag("output_hidden_states",
                                                                               output_hidden_states),
                            output_attentions=self.flag("output_attentions", output_attentions), training=training)


class EncoderTaskModel(TaskModel):
    backbone_has_pooler = False

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.backbone = self.backbone_class(config, add_pooling_layer=self.backbone_has_pooler, dtype=self.dtype_policy)

    def run_backbone(self, input_ids, attention_mask, token_type_ids, position_ids,
                     output_hidden_states, output_attentions, training, **inputs):
        """The backbone's outputs; ``inputs``: further backbone inputs (LayoutLM's ``bbox``)."""
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.backbone(input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                             training=training, **extra, **inputs)


class EncoderForSequenceClassification(EncoderTaskModel):
    """Sequence classification; ``classify(outputs)`` is the architecture's pooling + classifier."""

    def classify(self, outputs, training):
        raise NotImplementedError

    def call(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids,
                                output_hidden_states, output_attentions, training)
        return self.task_outputs(out, labels=labels, training=training)

    def task_outputs(self, out, labels=None, training=False):
        """The head, its loss and outputs over the backbone's outputs ``out``."""
        logits = self.classify(out, training)
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                        attentions=out.attentions)


class EncoderForTokenClassification(EncoderTaskModel):
    classifier_dropout_field = "hidden_dropout_prob"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        rate = getattr(config, "classifier_dropout", None) or getattr(config, self.classifier_dropout_field)
        self.dropout = keras.layers.Dropout(rate, dtype=self.dtype_policy)
        self.classifier = self.dense(config.num_labels)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids,
                                output_hidden_states, output_attentions, training)
        return self.task_outputs(out, labels=labels, training=training)

    def task_outputs(self, out, labels=None, training=False):
        """The head, its loss and outputs over the backbone's outputs ``out``."""
        logits = self.classifier(self.dropout(out.last_hidden_state, training=training))  # (B, T, labels)
        loss = None if labels is None else cross_entropy(logits, labels)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                     attentions=out.attentions)


class EncoderForQuestionAnswering(EncoderTaskModel):
    qa_dropout_field = None  # DistilBERT applies dropout before qa_outputs; BERT does not

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        rate = getattr(config, self.qa_dropout_field) if self.qa_dropout_field else 0.0
        self.dropout = keras.layers.Dropout(rate, dtype=self.dtype_policy)
        self.qa_outputs = self.dense(config.num_labels)  # 2 in practice: start, end

    def call(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
             start_positions=None, end_positions=None, output_hidden_states=None, output_attentions=None,
             training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids,
                                output_hidden_states, output_attentions, training)
        return self.task_outputs(out, start_positions=start_positions, end_positions=end_positions,
                                 training=training)

    def task_outputs(self, out, start_positions=None, end_positions=None, training=False):
        """The head, its loss and outputs over the backbone's outputs ``out``."""
        logits = self.qa_outputs(self.dropout(out.last_hidden_state, training=training))  # (B, T, 2)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                            hidden_states=out.hidden_states, attentions=out.attentions)


class EncoderForMaskedLM(EncoderTaskModel):
    lm_activation_field = "hidden_act"  # None: always gelu (RoBERTa's head ignores hidden_act)

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        field = self.lm_activation_field
        activation = (getattr(config, field, None) if field else None) or "gelu"
        self.lm_head = MaskedLMHead(config.hidden_size, config.vocab_size, activation,
                                    getattr(config, "layer_norm_eps", 1e-12), config.initializer_range,
                                    dtype=self.dtype_policy)

    def get_input_embeddings(self):
        return self.backbone.embeddings.token_embedding

    def call(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids,
                                output_hidden_states, output_attentions, training)
        return self.task_outputs(out, labels=labels, training=training)

    def task_outputs(self, out, labels=None, training=False):
        """The head, its loss and outputs over the backbone's outputs ``out``."""
        logits = self.lm_head(out.last_hidden_state, embedding_table(self.get_input_embeddings(), self.compute_dtype))
        loss = None if labels is None else cross_entropy(logits, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


def first_token(hidden):
    """(B, T, C) -> (B, C): the [CLS] / <s> position."""
    return ops.take(hidden, 0, axis=1)
