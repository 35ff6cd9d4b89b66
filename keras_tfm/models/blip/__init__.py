from keras_tfm.models.blip.config_blip import BlipConfig, BlipTextConfig, BlipVisionConfig
from keras_tfm.models.blip.model_blip import BlipForConditionalGeneration, BlipTextLMHeadModel, BlipVisionModel
