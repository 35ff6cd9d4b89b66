"""A tiny encoder-decoder assembled purely from the layer kit (no layer code of its own), on the
shared encoder-decoder task base (``models/seq2seq_tasks.py``): a worked example of both.

Its decoder self-attention is T5's kind (relative-position bias from buckets, no scaling),
so the additive bias is checked through the cache too.

Checks, on the active backend, that cached incremental decoding through the typed
encoder-decoder ``KVCache`` (cross keys / values computed once, then read) gives the logits
of the uncached forward pass, with padding in the encoder input; and that ``generate()``
through the ``EncoderDecoderStepper`` picks the tokens of a plain argmax loop over the
uncached forward pass. No reference model is needed: the uncached pass is the reference.
"""

import keras
import numpy as np
import pytest

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.configuration_utils import PretrainedConfig
from keras_tfm.layers import (
    MLP,
    CrossAttention,
    DecoderStack,
    Embedding,
    KVCache,
    LayerNorm,
    RelativePositionBias,
    SelfAttention,
    TransformerBlock,
    default_position_ids,
    encoder_stack,
    tied_lm_logits,
)
from keras_tfm.modeling_outputs import BaseModelOutput
from keras_tfm.models.seq2seq_tasks import EncoderDecoderModel, Seq2SeqForConditionalGeneration
from tests.model_tester import to_np

ATOL = 1e-5
C, HEADS, LAYERS, VOCAB, POSITIONS, BUCKETS = 32, 4, 2, 50, 64, 8


def config():
    return PretrainedConfig(pad_token_id=0, bos_token_id=1, eos_token_id=None, decoder_start_token_id=2,
                            vocab_size=VOCAB)


class KitBackbone(EncoderDecoderModel):
    """Shared token embeddings, learned positions, a pre-norm encoder stack and a decoder stack
    whose blocks cross-attend the encoder (self-attention with a T5 relative-position bias and
    no scaling)."""

    config_class = PretrainedConfig
    base_model_prefix = "model"
    weight_map = WeightMap(prefix="model")

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        d = self.dtype_policy
        init = keras.initializers.RandomNormal(stddev=0.5, seed=0)
        self.embed_tokens = Embedding(VOCAB, C, embeddings_initializer=init, dtype=d)
        self.encoder_positions = Embedding(POSITIONS, C, embeddings_initializer=init, dtype=d)
        self.decoder_positions = Embedding(POSITIONS, C, embeddings_initializer=init, dtype=d)
        self.relative_bias = RelativePositionBias(BUCKETS, HEADS, max_distance=20, bidirectional=False,
                                                  initializer=init, dtype=d)
        self.encoder = encoder_stack(LAYERS, C, HEADS, 2 * C, "gelu", initializer_range=0.3, norm_first=True,
                                     final_norm=True, layer_norm_eps=1e-5, dtype=d)
        self.decoder = DecoderStack([
            TransformerBlock(SelfAttention(C, HEADS, scale=1.0, initializer_range=0.1, dtype=d),
                             MLP(C, 2 * C, "gelu", initializer_range=0.3, dtype=d),
                             attention_norm=LayerNorm(dtype=d), mlp_norm=LayerNorm(dtype=d),
                             cross_attention=CrossAttention(C, HEADS, initializer_range=0.3, dtype=d),
                             cross_attention_norm=LayerNorm(dtype=d), dtype=d)
            for _ in range(LAYERS)], LayerNorm(dtype=d), dtype=d)

    def get_input_embeddings(self):
        return self.embed_tokens

    def cache_spec(self):
        return LAYERS, HEADS, C // HEADS

    def run_encoder(self, input_ids, attention_mask, output_hidden_states, output_attentions, training):
        x = self.embed_tokens(input_ids) + self.encoder_positions(default_position_ids(keras.ops.shape(input_ids)[1]))
        x, hidden, attentions = self.encoder(x, attention_mask, output_hidden_states=output_hidden_states,
                                             output_attentions=output_attentions, training=training)
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attentions)

    def run_decoder(self, decoder_input_ids, encoder_hidden_states, attention_mask, decoder_attention_mask,
                    decoder_position_ids, past_key_values, cache_index, output_hidden_states, output_attentions,
                    training):
        if decoder_position_ids is None:
            decoder_position_ids = default_position_ids(keras.ops.shape(decoder_input_ids)[1], cache_index)
        length = keras.ops.shape(decoder_input_ids)[1]
        y = self.embed_tokens(decoder_input_ids) + self.decoder_positions(decoder_position_ids)
        bias = self.relative_bias.for_decoding(length, cache_index,
                                               past_key_values.num_slots if past_key_values is not None else length)
        return self.decoder(y, decoder_attention_mask, decoder_position_ids, cache=past_key_values,
                            cache_index=cache_index, encoder_hidden_states=encoder_hidden_states,
                            encoder_attention_mask=attention_mask, bias=bias,
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                            training=training)


class KitEncoderDecoder(Seq2SeqForConditionalGeneration):
    """``KitBackbone`` and an LM head tied to the embeddings."""

    backbone_class = KitBackbone

    def dummy_inputs(self):
        return {"input_ids": np.array([[3, 4]], "int32"), "decoder_input_ids": np.array([[2]], "int32")}

    def lm_logits(self, hidden):
        return tied_lm_logits(hidden, keras.ops.cast(self.get_input_embeddings().embeddings, hidden.dtype))


@pytest.fixture(scope="module")
def model():
    return KitEncoderDecoder(config()).build_weights()


def encoder_inputs():
    rng = np.random.RandomState(0)
    ids = rng.randint(3, VOCAB, (3, 7)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 5:] = 0  # padding in the encoder input
    mask[2, 3:] = 0
    ids[mask == 0] = 0
    return ids, mask


def uncached_logits(model, ids, mask, decoder_ids):
    return to_np(model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits)


def test_cached_decoding_matches_uncached_forward(model):
    ids, mask = encoder_inputs()
    decoder_ids = np.random.RandomState(1).randint(3, VOCAB, (3, 6)).astype("int32")
    decoder_ids[:, 0] = 2
    full = uncached_logits(model, ids, mask, decoder_ids)

    layers, heads, head_dim = model.cache_spec()
    slots, prefill = 16, 2
    cache = KVCache.zeros(layers, 3, slots, heads, head_dim, cross_slots=ids.shape[1])
    assert cache.is_encoder_decoder and cache.num_slots == slots
    key_valid = np.ones((3, slots), "int32")
    states = model.encode(ids, attention_mask=mask)
    out = model(decoder_input_ids=decoder_ids[:, :prefill], encoder_hidden_states=states, attention_mask=mask,
                decoder_attention_mask=key_valid, past_key_values=cache, cache_index=np.int32(0))
    got = [to_np(out.logits)]
    cache = out.past_key_values
    cross = [to_np(t).copy() for t in cache.cross_keys + cache.cross_values]
    assert np.abs(cross[0]).max() > 0  # the prefill wrote the cross keys
    for t in range(prefill, decoder_ids.shape[1]):
        # no encoder states: the cross keys / values come from the cache
        out = model(decoder_input_ids=decoder_ids[:, t:t + 1], attention_mask=mask, decoder_attention_mask=key_valid,
                    past_key_values=cache, cache_index=np.int32(t))
        cache = out.past_key_values
        got.append(to_np(out.logits))
    for before, after in zip(cross, cache.cross_keys + cache.cross_values):
        np.testing.assert_array_equal(before, to_np(after))  # computed once, then only read
    worst = float(np.abs(np.concatenate(got, axis=1) - full).max())
    assert worst <= ATOL, worst


def argmax_loop(model, ids, mask, steps):
    decoder_ids = np.full((ids.shape[0], 1), 2, "int32")
    for _ in range(steps):
        logits = uncached_logits(model, ids, mask, decoder_ids)[:, -1]
        decoder_ids = np.concatenate([decoder_ids, logits.argmax(-1)[:, None].astype("int32")], axis=1)
    return decoder_ids


@pytest.mark.parametrize("steps", [5, 21])  # 21: more than one on-device greedy chunk on XLA backends
def test_generate_matches_uncached_argmax_loop(model, steps):
    ids, mask = encoder_inputs()
    expected = argmax_loop(model, ids, mask, steps)
    got = to_np(model.generate(ids, attention_mask=mask, max_new_tokens=steps))
    np.testing.assert_array_equal(got, expected)


def test_generate_host_loop_matches(model):
    """Asking for scores runs the host loop (one compiled decode step per token)."""
    ids, mask = encoder_inputs()
    expected = argmax_loop(model, ids, mask, 4)
    out = model.generate(ids, attention_mask=mask, max_new_tokens=4, return_dict_in_generate=True,
                         output_scores=True)
    np.testing.assert_array_equal(to_np(out.sequences), expected)
    assert len(out.scores) == 4


def test_beam_search_scores_match_uncached_forward(model):
    """Beam search reorders the typed cache (self and cross parts): each returned beam's score
    is its tokens' log-probability under the uncached forward pass, over its length."""
    ids, mask = encoder_inputs()
    steps = 4
    out = model.generate(ids, attention_mask=mask, max_new_tokens=steps, num_beams=3, num_return_sequences=2,
                         return_dict_in_generate=True, output_scores=True)
    sequences = to_np(out.sequences)
    assert sequences.shape == (6, steps + 1) and (sequences[:, 0] == 2).all()
    rows = np.repeat(np.arange(3), 2)
    logits = uncached_logits(model, ids[rows], mask[rows], sequences[:, :-1]).astype(np.float64)
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    chosen = np.take_along_axis(log_probs, sequences[:, 1:, None], axis=-1)[..., 0].sum(-1)
    np.testing.assert_allclose(to_np(out.sequences_scores), chosen / steps, atol=1e-4)


def test_compiled_steps_are_reused(model):
    ids, mask = encoder_inputs()
    model.generate(ids, attention_mask=mask, max_new_tokens=3)
    compiled = model.__dict__["_keras_tfm_stepper"].compiled()
    model.generate(ids, attention_mask=mask, max_new_tokens=3)
    assert model.__dict__["_keras_tfm_stepper"].compiled() is compiled


def test_labels_give_teacher_forced_loss(model):
    """labels: decoder inputs are the labels shifted right (start token, -100 read as pad), the loss
    their mean cross-entropy over the labels that are not -100."""
    ids, mask = encoder_inputs()
    labels = np.random.RandomState(2).randint(3, VOCAB, (3, 5)).astype("int32")
    labels[0, 3:] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    decoder_ids = np.concatenate([np.full((3, 1), 2, "int32"), np.where(labels == -100, 0, labels)[:, :-1]], axis=1)
    logits = uncached_logits(model, ids, mask, decoder_ids).astype(np.float64)
    np.testing.assert_allclose(to_np(out.logits), logits, atol=ATOL)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    valid = labels != -100
    expected = -np.take_along_axis(log_probs, np.where(valid, labels, 0)[..., None], -1)[..., 0][valid].mean()
    assert abs(float(to_np(out.loss)) - expected) < 1e-4
