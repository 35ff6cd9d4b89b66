from keras_tfm.models.t5.config_t5 import MT5Config, T5Config
from keras_tfm.models.t5.model_t5 import (
    MT5EncoderModel,
    MT5ForConditionalGeneration,
    MT5Model,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5Model,
)
