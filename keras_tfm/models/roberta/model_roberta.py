"""RoBERTa (Liu et al. 2019): BERT's architecture with positions counted past the padding id."""

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import ClassificationHead
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


class RobertaClassificationHead(ClassificationHead):
    """The kit's classification head on the <s> state."""

    def call(self, hidden, training=False):
        return super().call(tasks.first_token(hidden), training=training)  # (B, labels)


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
