"""LayoutLM (v1)'s tokenizer: BERT's WordPiece, plus the question-and-words encoding with boxes."""

from keras_tfm.processing.processing_layoutlm import tokenize_with_boxes
from keras_tfm.processing.tokenization_fast import PreTrainedTokenizer
from keras_tfm.registry import register_processor


@register_processor("AutoTokenizer", model_types=("layoutlm",))
class LayoutLMTokenizer(PreTrainedTokenizer):
    """LayoutLM's tokenizer, like ``transformers.LayoutLMTokenizer`` (alias ``LayoutLMTokenizerFast``):
    BERT's WordPiece; ``encode_with_boxes`` gives a question and a document's words with their
    boxes, as the document-question-answering pipeline feeds them to the model.

    Build one with ``AutoTokenizer.from_pretrained`` (it is also the ``AutoProcessor`` of a
    LayoutLM folder); the constructor takes a ready ``tokenizers.Tokenizer`` and the
    tokenizer_config.json keys.
    """

    def __init__(self, tokenizer_object=None, *, name_or_path="", **config):
        config["tokenizer_class"] = config.get("tokenizer_class") or "LayoutLMTokenizer"
        super().__init__(tokenizer_object, name_or_path=name_or_path, **config)

    def encode_with_boxes(self, question, words, boxes, max_seq_len=None, doc_stride=None, padding="do_not_pad"):
        """The windows of (question, words) with a box per token: see
        ``keras_tfm.processing.processing_layoutlm.tokenize_with_boxes``."""
        return tokenize_with_boxes(self, question, words, boxes, max_seq_len=max_seq_len, doc_stride=doc_stride,
                                   padding=padding)


LayoutLMTokenizerFast = LayoutLMTokenizer
