"""Text generation: ``GenerationConfig``, ``generate()`` with a static KV cache, streamers."""

from keras_tfm.generation.configuration_utils import GenerationConfig
from keras_tfm.generation.streamers import BaseStreamer, TextIteratorStreamer, TextStreamer
from keras_tfm.generation.utils import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput, GenerationMixin
