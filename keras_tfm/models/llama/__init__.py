from keras_tfm.models.llama.config_llama import LlamaConfig, MistralConfig, Qwen2Config
from keras_tfm.models.llama.model_llama import (
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
    MistralForCausalLM,
    MistralForSequenceClassification,
    MistralModel,
    Qwen2ForCausalLM,
    Qwen2ForSequenceClassification,
    Qwen2Model,
)
