from keras_tfm.models.layoutlm.config_layoutlm import LayoutLMConfig
from keras_tfm.models.layoutlm.model_layoutlm import (
    LayoutLMForMaskedLM,
    LayoutLMForQuestionAnswering,
    LayoutLMForSequenceClassification,
    LayoutLMForTokenClassification,
    LayoutLMModel,
)
