"""Llama, and through config switches Mistral (sliding window) and Qwen2 (q/k/v bias)."""

from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.registry import register_config


@register_config
class LlamaConfig(PretrainedConfig):
    model_type = "llama"

    def __init__(self, vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=None, head_dim=None, hidden_act="silu",
                 max_position_embeddings=2048, initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True,
                 pad_token_id=None, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, rope_theta=None,
                 rope_scaling=None, rope_parameters=None, attention_bias=False, attention_dropout=0.0,
                 mlp_bias=False, **kwargs):
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.head_dim = head_dim if head_dim is not None else hidden_size // num_attention_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.mlp_bias = mlp_bias
        # transformers 5 writes `rope_parameters`; older files have `rope_theta` + `rope_scaling`.
        if rope_parameters is None:
            rope_parameters = dict(rope_scaling or {})
            rope_parameters.setdefault("rope_theta", 10000.0 if rope_theta is None else rope_theta)
            rope_parameters.setdefault("rope_type", rope_parameters.pop("type", "default"))
        self.rope_parameters = rope_parameters

    # ---- config switches read by the shared model code ----
    qkv_bias_default = False

    @property
    def qkv_bias(self):
        return bool(self.attention_bias or self.qkv_bias_default)

    def layer_sliding_windows(self):
        """The sliding window of each layer (None: full causal attention)."""
        return [None] * self.num_hidden_layers


@register_config
class MistralConfig(LlamaConfig):
    model_type = "mistral"

    def __init__(self, vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=4096 * 32,
                 sliding_window=4096, tie_word_embeddings=False, **kwargs):
        kwargs.setdefault("rope_theta", 10000.0)
        super().__init__(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                         num_key_value_heads=num_key_value_heads, max_position_embeddings=max_position_embeddings,
                         tie_word_embeddings=tie_word_embeddings, **kwargs)
        self.sliding_window = sliding_window

    def layer_sliding_windows(self):
        return [self.sliding_window] * self.num_hidden_layers


@register_config
class Qwen2Config(LlamaConfig):
    model_type = "qwen2"
    qkv_bias_default = True  # Qwen2: bias on q/k/v projections, none on o_proj

    def __init__(self, vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=32768,
                 use_sliding_window=False, sliding_window=4096, max_window_layers=28, layer_types=None,
                 tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, **kwargs):
        super().__init__(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                         num_key_value_heads=num_key_value_heads, max_position_embeddings=max_position_embeddings,
                         tie_word_embeddings=tie_word_embeddings, bos_token_id=bos_token_id,
                         eos_token_id=eos_token_id, **kwargs)
        self.use_sliding_window = use_sliding_window
        self.sliding_window = sliding_window if use_sliding_window else None
        self.max_window_layers = max_window_layers
        if layer_types is None:
            layer_types = ["sliding_attention" if self.sliding_window is not None and i >= max_window_layers
                           else "full_attention" for i in range(num_hidden_layers)]
        self.layer_types = layer_types

    def layer_sliding_windows(self):
        return [self.sliding_window if t == "sliding_attention" else None for t in self.layer_types]
