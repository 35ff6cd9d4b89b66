from keras_tfm.models.bert.config_bert import BertConfig
from keras_tfm.models.bert.model_bert import (
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
