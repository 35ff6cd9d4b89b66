"""DistilBERT (Sanh et al. 2019) as Keras 3 layers: BERT's post-LN encoder, no token types, no pooler."""

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import SinusoidalPositions, TextEmbeddings, encoder_stack
from keras_tfm.modeling_outputs import BaseModelOutput
from keras_tfm.models import encoder_tasks as tasks
from keras_tfm.models.distilbert import convert_distilbert
from keras_tfm.models.distilbert.config_distilbert import DistilBertConfig
from keras_tfm.registry import register_model

LAYER_NORM_EPS = 1e-12  # fixed in DistilBERT, not a config field


@register_model("AutoModel")
class DistilBertModel(tasks.EncoderModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    weight_map = WeightMap(convert_distilbert.BACKBONE, prefix="distilbert")

    def __init__(self, config, add_pooling_layer=False, **kwargs):
        super().__init__(config, **kwargs)
        if add_pooling_layer:
            raise ValueError("DistilBertModel has no pooler; add_pooling_layer must be False.")
        c, d = config, self.dtype_policy
        self.embeddings = TextEmbeddings(
            c.vocab_size, c.dim, c.max_position_embeddings, type_vocab_size=0, layer_norm_eps=LAYER_NORM_EPS,
            dropout=c.dropout, initializer_range=c.initializer_range,
            position_initializer=SinusoidalPositions() if c.sinusoidal_pos_embds else None, dtype=d)
        self.encoder = encoder_stack(
            c.n_layers, hidden_size=c.dim, num_heads=c.n_heads, intermediate_size=c.hidden_dim,
            activation=c.activation, dropout=c.dropout, attention_dropout=c.attention_dropout,
            layer_norm_eps=LAYER_NORM_EPS, initializer_range=c.initializer_range, dtype=d)

    def call(self, input_ids, attention_mask=None, position_ids=None, output_hidden_states=None,
             output_attentions=None, training=False):
        x = self.embeddings(input_ids, position_ids=position_ids, training=training)  # (B, T, C)
        x, hidden_states, attentions = self.run_encoder(x, attention_mask, output_hidden_states, output_attentions,
                                                        training)
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)


class _DistilBertTask:
    backbone_class = DistilBertModel

    def run_backbone(self, input_ids, attention_mask, token_type_ids, *args):
        if token_type_ids is not None:
            raise ValueError(f"{type(self).__name__} does not take token_type_ids: DistilBERT has no segment embeddings.")
        return super().run_backbone(input_ids, attention_mask, None, *args)


@register_model("AutoModelForSequenceClassification")
class DistilBertForSequenceClassification(_DistilBertTask, tasks.EncoderForSequenceClassification):
    head_rules = convert_distilbert.SEQUENCE_CLASSIFIER

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.pre_classifier = self.dense(config.dim)
        self.dropout = keras.layers.Dropout(config.seq_classif_dropout, dtype=self.dtype_policy)
        self.classifier = self.dense(config.num_labels)

    def classify(self, outputs, training):
        x = ops.relu(self.pre_classifier(tasks.first_token(outputs.last_hidden_state)))  # (B, C)
        return self.classifier(self.dropout(x, training=training))


@register_model("AutoModelForTokenClassification")
class DistilBertForTokenClassification(_DistilBertTask, tasks.EncoderForTokenClassification):
    head_rules = convert_distilbert.TOKEN_CLASSIFIER
    classifier_dropout_field = "dropout"


@register_model("AutoModelForQuestionAnswering")
class DistilBertForQuestionAnswering(_DistilBertTask, tasks.EncoderForQuestionAnswering):
    head_rules = convert_distilbert.QA
    qa_dropout_field = "qa_dropout"

    def __init__(self, config, **kwargs):
        if config.num_labels != 2:
            raise ValueError(f"DistilBertForQuestionAnswering needs num_labels=2 (start, end), got {config.num_labels}.")
        super().__init__(config, **kwargs)


@register_model("AutoModelForMaskedLM")
class DistilBertForMaskedLM(_DistilBertTask, tasks.EncoderForMaskedLM):
    head_rules = convert_distilbert.MASKED_LM
    lm_activation_field = "activation"
