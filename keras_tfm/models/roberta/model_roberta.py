"""RoBERTa (Liu et al. 2019): BERT's architecture with positions counted past the padding id."""

import keras
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers.activations import normal_init
from keras_tfm.models import encoder_tasks as tasks
from keras_tfm.models.bert.model_bert import BertModel
from keras_tfm.models.roberta import convert_roberta
from keras_tfm.models.roberta.config_roberta import RobertaConfig
from keras_tfm.registry import register_model


@register_model("AutoModel")
class RobertaModel(BertModel):
    """BERT's backbone; position ids start at ``pad_token_id + 1`` and skip padding tokens."""

    config_class = RobertaConfig
    base_model_prefix = "roberta"
    weight_map = WeightMap(convert_roberta.BACKBONE, prefix="roberta")

    def __init__(self, config, add_pooling_layer=True, **kwargs):
        super().__init__(config, add_pooling_layer=add_pooling_layer, **kwargs)
        self.embeddings.padding_idx = config.pad_token_id


class RobertaClassificationHead(keras.layers.Layer):
    """<s> state -> dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, hidden_size, num_labels, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        dense = dict(kernel_initializer=normal_init(initializer_range), dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(hidden_size, **dense)
        self.out_proj = keras.layers.Dense(num_labels, **dense)
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def call(self, hidden, training=False):
        x = self.dropout(tasks.first_token(hidden), training=training)  # (B, C)
        x = self.dropout(ops.tanh(self.dense(x)), training=training)
        return self.out_proj(x)  # (B, labels)


@register_model("AutoModelForSequenceClassification")
class RobertaForSequenceClassification(tasks.EncoderForSequenceClassification):
    backbone_class = RobertaModel
    head_rules = convert_roberta.CLASSIFICATION_HEAD

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.classifier = RobertaClassificationHead(config.hidden_size, config.num_labels, rate,
                                                    config.initializer_range, dtype=self.dtype_policy)

    def classify(self, outputs, training):
        return self.classifier(outputs.last_hidden_state, training=training)


@register_model("AutoModelForTokenClassification")
class RobertaForTokenClassification(tasks.EncoderForTokenClassification):
    backbone_class = RobertaModel
    head_rules = convert_roberta.TOKEN_CLASSIFIER


@register_model("AutoModelForQuestionAnswering")
class RobertaForQuestionAnswering(tasks.EncoderForQuestionAnswering):
    backbone_class = RobertaModel
    head_rules = convert_roberta.QA


@register_model("AutoModelForMaskedLM")
class RobertaForMaskedLM(tasks.EncoderForMaskedLM):
    backbone_class = RobertaModel
    head_rules = convert_roberta.MASKED_LM
    lm_activation_field = None  # RobertaLMHead applies gelu whatever hidden_act says
