"""``image-to-text``: a caption for each image, from a ``VisionEncoderDecoderModel`` or BLIP.

Hugging Face ``transformers`` 5 deleted this pipeline; this keeps 4.57's behaviour: one image
gives ``[{"generated_text": ...}]`` (one dict per returned sequence), a list of images one such
list per image, a generator or dataset a generator of them. Generation follows the model's
``generation_config`` with 4.57's default ``max_new_tokens=256`` where the model sets neither
``max_new_tokens`` nor ``max_length``; ``max_new_tokens`` and ``generate_kwargs`` of a call
go over it.
"""

from keras_tfm.generation import GenerationConfig
from keras_tfm.pipelines.base import check_text
from keras_tfm.pipelines.generation_base import GenerationPipeline
from keras_tfm.pipelines.vision_base import ImagePipeline

# Models that caption without a text prompt only (4.57's "does not support conditional text generation").
UNCONDITIONAL_MODEL_TYPES = ("vision-encoder-decoder",)


class ImageToTextPipeline(ImagePipeline, GenerationPipeline):
    """Captions images (``pipeline("image-to-text")``; default model ydshieh/vit-gpt2-coco-en).

    Example:
        >>> captioner = pipeline("image-to-text", model="ydshieh/vit-gpt2-coco-en")
        >>> captioner("parrots.png")
        [{'generated_text': 'two birds are standing next to each other '}]

    Inputs: an image (PIL image, path, URL, base64 string, array or tensor; ``images=`` is
    accepted), a list of them, or a generator / dataset. Call arguments: ``max_new_tokens``,
    ``generate_kwargs`` (a dict of ``generate`` arguments: ``num_beams``...), ``prompt`` (a text
    the caption continues; BLIP only: a VisionEncoderDecoder captions without one, as in 4.57),
    ``timeout`` (seconds to fetch a URL).
    """

    _load_tokenizer = True
    _load_image_processor = True
    _default_generation_config = GenerationConfig(max_new_tokens=256)

    def _sanitize_parameters(self, max_new_tokens=None, generate_kwargs=None, prompt=None, timeout=None):
        preprocess = {key: value for key, value in (("prompt", prompt), ("timeout", timeout)) if value is not None}
        forward = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
        if generate_kwargs is not None:
            if not isinstance(generate_kwargs, dict):
                raise ValueError(f"generate_kwargs must be a dict of generate() arguments, got "
                                 f"{type(generate_kwargs).__name__}.")
            if max_new_tokens is not None and "max_new_tokens" in generate_kwargs:
                raise ValueError("`max_new_tokens` is defined both as an argument and inside `generate_kwargs` "
                                 "argument, please use only 1 version")
            forward.update(generate_kwargs)
        return preprocess, forward, {}

    def preprocess(self, image, prompt=None, timeout=None):
        """The image's ``pixel_values`` and, with a prompt, its ``input_ids`` / ``attention_mask``."""
        feature = super().preprocess(image, timeout=timeout)
        if prompt is None:
            return feature
        check_text(self.task or "image-to-text", prompt, "a str as prompt")
        model_type = getattr(self.model.config, "model_type", None)
        if model_type in UNCONDITIONAL_MODEL_TYPES:
            raise ValueError(f"Model type {model_type} does not support conditional text generation: it captions "
                             "images without a prompt (call the pipeline without prompt=).")
        encoded = self.tokenizer(prompt)
        for name in ("input_ids", "attention_mask"):
            if name in encoded:
                feature[name] = list(encoded[name])
        return feature

    def postprocess(self, outputs):
        return [{"generated_text": self.tokenizer.decode([int(t) for t in row], skip_special_tokens=True)}
                for row in outputs["sequences"]]
