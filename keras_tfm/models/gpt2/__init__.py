from keras_tfm.models.gpt2.config_gpt2 import GPT2Config
from keras_tfm.models.gpt2.model_gpt2 import GPT2ForSequenceClassification, GPT2LMHeadModel, GPT2Model
