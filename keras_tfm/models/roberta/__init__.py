from keras_tfm.models.roberta.config_roberta import RobertaConfig
from keras_tfm.models.roberta.model_roberta import (
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
)
