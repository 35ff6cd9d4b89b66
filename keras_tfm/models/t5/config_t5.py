"""T5 (v1.0, v1.1 / Flan-T5) and mT5: one configuration, Hugging Face's names and defaults."""

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class T5Config(PretrainedConfig):
    """T5's configuration.

    ``feed_forward_proj`` is ``"{act}"`` (v1.0: ``"relu"``) or ``"gated-{act}"`` (v1.1 / Flan-T5:
    ``"gated-gelu"``, which is HF's tanh-approximated ``gelu_new``). ``tie_word_embeddings``
    (v1.0: True) shares the LM head with the input embeddings and scales the decoder's output
    by ``d_model ** -0.5`` before it; v1.1 has its own ``lm_head`` and no scaling.
    ``scale_decoder_outputs`` (written by transformers 5, which always ties) overrides the
    scaling.
    """

    model_type = "t5"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "num_heads", "num_hidden_layers": "num_layers",
                     "head_dim": "d_kv"}

    def __init__(self, vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=None,
                 num_heads=8, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                 dropout_rate=0.1, layer_norm_epsilon=1e-6, initializer_factor=1.0, feed_forward_proj="relu",
                 is_encoder_decoder=True, use_cache=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                 tie_word_embeddings=True, scale_decoder_outputs=None, classifier_dropout=0.0, **kwargs):
        for derived in ("dense_act_fn", "is_gated_act"):  # recomputed from feed_forward_proj
            kwargs.pop(derived, None)
        super().__init__(pad_token_id=pad_token_id, eos_token_id=eos_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
        parts = feed_forward_proj.split("-")
        if (len(parts) > 1 and parts[0] != "gated") or len(parts) > 2:
            raise ValueError(f"feed_forward_proj={feed_forward_proj!r} is not 'ACT' or 'gated-ACT' (e.g. 'relu', "
                             "'gated-gelu').")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.d_kv = d_kv
        self.d_ff = d_ff
        self.num_layers = num_layers
        self.num_decoder_layers = num_layers if num_decoder_layers is None else num_decoder_layers
        self.num_heads = num_heads
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance
        self.dropout_rate = dropout_rate
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_factor = initializer_factor
        self.feed_forward_proj = feed_forward_proj
        self.dense_act_fn = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]
        self.is_gated_act = parts[0] == "gated"
        self.is_encoder_decoder = is_encoder_decoder
        self.use_cache = use_cache
        self.decoder_start_token_id = decoder_start_token_id
        self.scale_decoder_outputs = tie_word_embeddings if scale_decoder_outputs is None else scale_decoder_outputs
        self.classifier_dropout = classifier_dropout


@register_config
class MT5Config(T5Config):
    """mT5: T5 v1.1's architecture (gated-GELU, untied head) under its own ``model_type``.

    Its decoder output is never scaled before the head, as transformers 5 runs it (which writes
    ``tie_word_embeddings: true`` for every mT5 and unties a checkpoint's own ``lm_head``).
    """

    model_type = "mt5"

    def __init__(self, vocab_size=250112, d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_heads=6,
                 feed_forward_proj="gated-gelu", tie_word_embeddings=False, scale_decoder_outputs=False, **kwargs):
        super().__init__(vocab_size=vocab_size, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=num_layers,
                         num_heads=num_heads, feed_forward_proj=feed_forward_proj,
                         tie_word_embeddings=tie_word_embeddings, scale_decoder_outputs=scale_decoder_outputs,
                         **kwargs)
