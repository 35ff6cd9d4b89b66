from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class ViltConfig(PretrainedConfig):
    """The configuration of ViLT (Kim et al. 2021), HF's fields and defaults (``dandelin/vilt-b32-mlm``'s
    shape): BERT's text embeddings and ViT's patch embeddings in one pre-norm transformer.

    ``modality_type_vocab_size``: the modality embeddings added to text (0) and image (1) tokens;
    ``max_image_length``: the most patches an image keeps (-1: all of them); ``num_images`` is kept
    for HF's NLVR2 head.
    """

    model_type = "vilt"

    def __init__(self, vocab_size=30522, type_vocab_size=2, modality_type_vocab_size=2, max_position_embeddings=40,
                 hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.02,
                 layer_norm_eps=1e-12, image_size=384, patch_size=32, num_channels=3, qkv_bias=True,
                 max_image_length=-1, tie_word_embeddings=True, num_images=-1, pad_token_id=None, **kwargs):
        super().__init__(pad_token_id=pad_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.vocab_size = vocab_size
        self.type_vocab_size = type_vocab_size
        self.modality_type_vocab_size = modality_type_vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.qkv_bias = qkv_bias
        self.max_image_length = max_image_length
        self.num_images = num_images
