from keras_tfm.models.bert.config_bert import BertConfig
from keras_tfm.registry import register_config


@register_config
class RobertaConfig(BertConfig):
    """RoBERTa configuration: BERT's fields; Hugging Face's ``RobertaConfig`` defaults.

    The defaults are those of ``transformers.RobertaConfig()`` (max_position_embeddings
    512, type_vocab_size 2, layer_norm_eps 1e-12), not those of the ``roberta-base``
    checkpoint (514, 1, 1e-5), so that a ``config.json`` missing a field means here
    what it means in ``transformers``.
    """

    model_type = "roberta"

    def __init__(self, vocab_size=50265, pad_token_id=1, bos_token_id=0, eos_token_id=2, **kwargs):
        super().__init__(vocab_size=vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                         eos_token_id=eos_token_id, **kwargs)
