"""BART, and through a config switch MBart (pre-norm blocks and final norms)."""

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class BartConfig(PretrainedConfig):
    """BART's fields, with Hugging Face's names and defaults.

    The generation settings BART checkpoints carry in config.json (bart-large-cnn's
    ``max_length``, ``min_length``, ``num_beams``, ``no_repeat_ngram_size``, ``length_penalty``,
    ``early_stopping``, ``forced_bos_token_id``, ``forced_eos_token_id``,
    ``task_specific_params``) stay on the config, where the generation config reads them.
    """

    model_type = "bart"
    attribute_map = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model",
                     "num_hidden_layers": "encoder_layers"}
    norm_first = False  # post-norm blocks, no final encoder / decoder norm

    def __init__(self, vocab_size=50265, max_position_embeddings=1024, encoder_layers=12, encoder_ffn_dim=4096,
                 encoder_attention_heads=16, decoder_layers=12, decoder_ffn_dim=4096, decoder_attention_heads=16,
                 encoder_layerdrop=0.0, decoder_layerdrop=0.0, activation_function="gelu", d_model=1024, dropout=0.1,
                 attention_dropout=0.0, activation_dropout=0.0, init_std=0.02, classifier_dropout=0.0,
                 scale_embedding=False, use_cache=True, num_labels=3, pad_token_id=1, bos_token_id=0,
                 eos_token_id=2, is_encoder_decoder=True, decoder_start_token_id=2, forced_eos_token_id=2,
                 tie_word_embeddings=True, **kwargs):
        if kwargs.get("id2label") is not None:
            num_labels = None
        if kwargs.pop("force_bos_token_to_be_generated", False) and kwargs.get("forced_bos_token_id") is None:
            kwargs["forced_bos_token_id"] = bos_token_id  # the old name of bart-large-cnn's switch
        kwargs.setdefault("forced_bos_token_id", None)
        super().__init__(num_labels=num_labels, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                         eos_token_id=eos_token_id, tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.d_model = d_model
        self.encoder_layers = encoder_layers
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_layers = decoder_layers
        self.decoder_ffn_dim = decoder_ffn_dim
        self.decoder_attention_heads = decoder_attention_heads
        self.encoder_layerdrop = encoder_layerdrop
        self.decoder_layerdrop = decoder_layerdrop
        self.activation_function = activation_function
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.init_std = init_std
        self.classifier_dropout = classifier_dropout
        self.scale_embedding = scale_embedding
        self.use_cache = use_cache
        self.is_encoder_decoder = is_encoder_decoder
        self.decoder_start_token_id = decoder_start_token_id
        self.forced_eos_token_id = forced_eos_token_id

    @property
    def initializer_range(self):
        return self.init_std

    @property
    def embed_scale(self):
        """The factor on the token embeddings: sqrt(d_model) with ``scale_embedding``, else 1."""
        return self.d_model ** 0.5 if self.scale_embedding else 1.0


@register_config
class MBartConfig(BartConfig):
    """BART with pre-norm blocks and a final norm after the encoder and the decoder; no
    single ``decoder_start_token_id`` (labels are shifted with their last token wrapped)."""

    model_type = "mbart"
    norm_first = True

    def __init__(self, decoder_start_token_id=None, num_labels=None, **kwargs):
        super().__init__(decoder_start_token_id=decoder_start_token_id, num_labels=num_labels, **kwargs)
