"""Whisper's configuration, with Hugging Face's field names and defaults (whisper-tiny's shape)."""

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class WhisperConfig(PretrainedConfig):
    """Whisper's fields (transformers 5): the conv stem's ``num_mel_bins``, ``max_source_positions``
    (encoder positions: half the mel frames), ``max_target_positions`` (decoder positions), the
    encoder / decoder sizes, and the token ids generation reads (``suppress_tokens``,
    ``begin_suppress_tokens``). SpecAugment and classification fields are kept for round trips.
    """

    model_type = "whisper"
    attribute_map = {"num_key_value_heads": "encoder_attention_heads", "num_attention_heads": "encoder_attention_heads",
                     "hidden_size": "d_model", "num_hidden_layers": "encoder_layers", "initializer_range": "init_std"}

    def __init__(self, vocab_size=51865, num_mel_bins=80, encoder_layers=4, encoder_attention_heads=6,
                 decoder_layers=4, decoder_attention_heads=6, decoder_ffn_dim=1536, encoder_ffn_dim=1536,
                 encoder_layerdrop=0.0, decoder_layerdrop=0.0, decoder_start_token_id=50257, use_cache=True,
                 is_encoder_decoder=True, activation_function="gelu", d_model=384, dropout=0.0,
                 attention_dropout=0.0, activation_dropout=0.0, init_std=0.02, scale_embedding=False,
                 max_source_positions=1500, max_target_positions=448, pad_token_id=50256, bos_token_id=50256,
                 eos_token_id=50256, suppress_tokens=None, begin_suppress_tokens=(220, 50256),
                 use_weighted_layer_sum=False, classifier_proj_size=256, apply_spec_augment=False,
                 mask_time_prob=0.05, mask_time_length=10, mask_time_min_masks=2, mask_feature_prob=0.0,
                 mask_feature_length=10, mask_feature_min_masks=0, median_filter_width=7, tie_word_embeddings=True,
                 **kwargs):
        init_std = kwargs.pop("initializer_range", init_std)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.vocab_size = vocab_size
        self.num_mel_bins = num_mel_bins
        self.d_model = d_model
        self.encoder_layers = encoder_layers
        self.encoder_attention_heads = encoder_attention_heads
        self.decoder_layers = decoder_layers
        self.decoder_attention_heads = decoder_attention_heads
        self.decoder_ffn_dim = decoder_ffn_dim
        self.encoder_ffn_dim = encoder_ffn_dim
        self.encoder_layerdrop = encoder_layerdrop
        self.decoder_layerdrop = decoder_layerdrop
        self.decoder_start_token_id = decoder_start_token_id
        self.use_cache = use_cache
        self.is_encoder_decoder = is_encoder_decoder
        self.activation_function = activation_function
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.init_std = init_std
        self.scale_embedding = scale_embedding  # read by no layer, as in HF
        self.max_source_positions = max_source_positions
        self.max_target_positions = max_target_positions
        self.suppress_tokens = None if suppress_tokens is None else list(suppress_tokens)
        self.begin_suppress_tokens = None if begin_suppress_tokens is None else list(begin_suppress_tokens)
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self.classifier_proj_size = classifier_proj_size
        self.apply_spec_augment = apply_spec_augment
        self.mask_time_prob = mask_time_prob
        self.mask_time_length = mask_time_length
        self.mask_time_min_masks = mask_time_min_masks
        self.mask_feature_prob = mask_feature_prob
        self.mask_feature_length = mask_feature_length
        self.mask_feature_min_masks = mask_feature_min_masks
        self.median_filter_width = median_filter_width
