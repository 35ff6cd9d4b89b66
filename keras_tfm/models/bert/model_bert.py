"""BERT (Devlin et al. 2018) as Keras 3 layers."""

import keras

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import TextEmbeddings, encoder_stack
from keras_tfm.layers.activations import normal_init
from keras_tfm.modeling_outputs import BaseModelOutputWithPooling
from keras_tfm.models import encoder_tasks as tasks
from keras_tfm.models.bert import convert_bert
from keras_tfm.models.bert.config_bert import BertConfig
from keras_tfm.registry import register_model


@register_model("AutoModel")
class BertModel(tasks.EncoderModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    weight_map = WeightMap(convert_bert.BACKBONE, prefix="bert")

    def __init__(self, config, add_pooling_layer=True, **kwargs):
        super().__init__(config, **kwargs)
        c, d = config, self.dtype_policy
        if getattr(c, "position_embedding_type", "absolute") != "absolute":
            raise NotImplementedError(
                f"position_embedding_type={c.position_embedding_type!r}: only 'absolute' is supported."
            )
        self.embeddings = self.make_embeddings(c)
        self.encoder = encoder_stack(
            c.num_hidden_layers, hidden_size=c.hidden_size, num_heads=c.num_attention_heads,
            intermediate_size=c.intermediate_size, activation=c.hidden_act, dropout=c.hidden_dropout_prob,
            attention_dropout=c.attention_probs_dropout_prob, layer_norm_eps=c.layer_norm_eps,
            initializer_range=c.initializer_range, dtype=d)
        self.pooler = (
            keras.layers.Dense(c.hidden_size, activation="tanh", kernel_initializer=normal_init(c.initializer_range), dtype=d)
            if add_pooling_layer else None
        )

    def make_embeddings(self, config):
        """The embeddings layer (LayoutLM's adds 2-D positions to BERT's)."""
        c = config
        return TextEmbeddings(c.vocab_size, c.hidden_size, c.max_position_embeddings, c.type_vocab_size,
                              c.layer_norm_eps, c.hidden_dropout_prob, c.initializer_range, dtype=self.dtype_policy)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None,
             output_hidden_states=None, output_attentions=None, training=False):
        x = self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids, training=training)
        return self.encode(x, attention_mask, output_hidden_states, output_attentions, training)

    def encode(self, x, attention_mask, output_hidden_states, output_attentions, training):
        """The encoder and pooler over the embeddings ``x`` (B, T, C)."""
        x, hidden_states, attentions = self.run_encoder(x, attention_mask, output_hidden_states, output_attentions,
                                                        training)
        pooled = self.pooler(tasks.first_token(x)) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled,
                                          hidden_states=hidden_states, attentions=attentions)


@register_model("AutoModelForSequenceClassification")
class BertForSequenceClassification(tasks.EncoderForSequenceClassification):
    backbone_class = BertModel
    head_rules = convert_bert.CLASSIFIER
    backbone_has_pooler = True

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.dropout = keras.layers.Dropout(config.classifier_dropout or config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.classifier = self.dense(config.num_labels)

    def classify(self, outputs, training):
        return self.classifier(self.dropout(outputs.pooler_output, training=training))


@register_model("AutoModelForTokenClassification")
class BertForTokenClassification(tasks.EncoderForTokenClassification):
    backbone_class = BertModel
    head_rules = convert_bert.CLASSIFIER


@register_model("AutoModelForQuestionAnswering")
class BertForQuestionAnswering(tasks.EncoderForQuestionAnswering):
    backbone_class = BertModel
    head_rules = convert_bert.QA


@register_model("AutoModelForMaskedLM")
class BertForMaskedLM(tasks.EncoderForMaskedLM):
    backbone_class = BertModel
    head_rules = convert_bert.MASKED_LM
