from keras_tfm.models.distilbert.config_distilbert import DistilBertConfig
from keras_tfm.models.distilbert.model_distilbert import (
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
