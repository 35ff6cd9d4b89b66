"""``BlipProcessor``: BLIP's image processor and BERT tokenizer, as transformers' class."""

from keras_tfm.processing.processing_utils import ProcessorMixin
from keras_tfm.registry import register_processor


@register_processor("AutoProcessor", model_types=("blip",))
class BlipProcessor(ProcessorMixin):
    """A ``BlipImageProcessor`` and a BERT tokenizer as one processor.

    ``processor(images=..., text=...)`` gives ``pixel_values`` and the text's ``input_ids`` /
    ``attention_mask`` (no ``token_type_ids``: the text decoder takes none), e.g. a caption prompt
    for ``BlipForConditionalGeneration.generate`` or the caption as ``labels`` for training.

    Example:
        >>> processor = AutoProcessor.from_pretrained("Salesforce/blip-image-captioning-base")
        >>> inputs = processor(images=image, text="a picture of", return_tensors="np")
        >>> processor.batch_decode(model.generate(**inputs), skip_special_tokens=True)
    """

    attributes = ["image_processor", "tokenizer"]

    def __call__(self, images=None, text=None, audio=None, *, return_tensors=None, **kwargs):
        if text is not None:
            kwargs.setdefault("return_token_type_ids", False)
        return super().__call__(images, text, audio, return_tensors=return_tensors, **kwargs)
