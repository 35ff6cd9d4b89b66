from keras_tfm.models.bert.config_bert import BertConfig
from keras_tfm.registry import register_config


@register_config
class LayoutLMConfig(BertConfig):
    """LayoutLM (v1) configuration: BERT's fields and ``max_2d_position_embeddings``, the size of
    the tables of box coordinates (boxes hold values 0..1000, normalised to the page)."""

    model_type = "layoutlm"

    def __init__(self, max_2d_position_embeddings=1024, **kwargs):
        super().__init__(**kwargs)
        self.max_2d_position_embeddings = max_2d_position_embeddings
