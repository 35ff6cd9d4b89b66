"""Text generation: ``GenerationConfig``, steppers over a static KV cache, search loops, streamers.

Importing this package installs ``generate()`` into ``keras_tfm.models.generative`` (the
models name the capability and do not import this package, which drives them).
"""

from keras_tfm.generation.configuration_utils import GenerationConfig
from keras_tfm.generation.search import GenerateBeamDecoderOnlyOutput, GenerateDecoderOnlyOutput
from keras_tfm.generation.steppers import CausalLMStepper, DecodingSession, EncoderDecoderStepper, stepper_for
from keras_tfm.generation.streamers import BaseStreamer, TextIteratorStreamer, TextStreamer
from keras_tfm.generation.utils import GenerationMixin
from keras_tfm.generation import whisper  # noqa: E402  (after utils: it builds on GenerationMixin)
from keras_tfm.models import generative as _generative


# Models whose generate() adds its own logic around the search loops (``model.generator``).
GENERATORS = {"whisper": whisper.generate}


def _generate(model, *args, **kwargs):
    return GENERATORS.get(getattr(model, "generator", None), GenerationMixin.generate)(model, *args, **kwargs)


class _GenerationSupport:
    """What ``GenerativeModel`` delegates to."""

    generate = staticmethod(_generate)
    config_from_model = staticmethod(GenerationConfig.from_model_config)
    config_from_pretrained = staticmethod(GenerationConfig.from_pretrained)


_generative.install(_GenerationSupport)
