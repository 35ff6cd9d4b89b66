"""``ViltProcessor``: ViLT's image processor and BERT tokenizer as one object, as transformers' class."""

from keras_tfm.processing.processing_utils import ProcessorMixin
from keras_tfm.registry import register_processor


@register_processor("AutoProcessor", model_types=("vilt",))
class ViltProcessor(ProcessorMixin):
    """A ``ViltImageProcessor`` and a BERT tokenizer as one processor.

    ``processor(images, text, padding=True, return_tensors="np")`` gives ``input_ids``,
    ``token_type_ids``, ``attention_mask`` (the tokenizer's) with ``pixel_values`` and
    ``pixel_mask`` (the image processor's): the inputs of ``ViltForQuestionAnswering``.

    Example:
        >>> processor = AutoProcessor.from_pretrained("dandelin/vilt-b32-finetuned-vqa")
        >>> inputs = processor(image, "How many cats are there?", return_tensors="np")
    """

    attributes = ["image_processor", "tokenizer"]
