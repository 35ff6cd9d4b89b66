"""T5 / mT5: Hugging Face PyTorch names <-> keras_tfm variable paths.

HF keeps T5's stacks at the top level in every class (``shared``, ``encoder.block.N``,
``decoder.block.N``, ``lm_head``): no base-model prefix. The relative-position bias lives
in block 0's self-attention of each stack and is shared by the other blocks.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import TRANSPOSE, Rule, embedding, linear


def rms_norm(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.weight")]


def attention(hf, keras):
    return [rule for p in "qkvo" for rule in linear(f"{hf}.{p}", f"{keras}.{p}_proj")]


def feed_forward(hf, keras, gated):
    """``wi`` (ReLU, v1.0) or ``wi_0`` / ``wi_1`` (gated, v1.1) and ``wo``. Loading takes either;
    saving writes the names of ``gated``'s kind first (``mlp.up_proj`` is ``wi`` or ``wi_1``)."""
    plain = linear(f"{hf}.wi", f"{keras}.up_proj")
    gates = [*linear(f"{hf}.wi_0", f"{keras}.gate_proj"), *linear(f"{hf}.wi_1", f"{keras}.up_proj")]
    return [*(gates + plain if gated else plain + gates), *linear(f"{hf}.wo", f"{keras}.down_proj")]


def encoder_rules(gated):
    hf, k = "encoder.block.{i}", "encoder.layers.{i}"
    return [
        *embedding("shared", "shared"),
        Rule("encoder.embed_tokens.weight", None),  # tied to shared.weight
        *attention(f"{hf}.layer.0.SelfAttention", f"{k}.self_attention"),
        *embedding("encoder.block.0.layer.0.SelfAttention.relative_attention_bias", "encoder_position_bias.embedding"),
        *rms_norm(f"{hf}.layer.0.layer_norm", f"{k}.attention_norm"),
        *feed_forward(f"{hf}.layer.1.DenseReluDense", f"{k}.mlp", gated),
        *rms_norm(f"{hf}.layer.1.layer_norm", f"{k}.mlp_norm"),
        *rms_norm("encoder.final_layer_norm", "encoder.final_norm"),
    ]


def decoder_rules(gated):
    hf, k = "decoder.block.{i}", "decoder.layers.{i}"
    return [
        Rule("decoder.embed_tokens.weight", None),  # tied to shared.weight
        *attention(f"{hf}.layer.0.SelfAttention", f"{k}.self_attention"),
        *embedding("decoder.block.0.layer.0.SelfAttention.relative_attention_bias", "decoder_position_bias.embedding"),
        *rms_norm(f"{hf}.layer.0.layer_norm", f"{k}.attention_norm"),
        *attention(f"{hf}.layer.1.EncDecAttention", f"{k}.cross_attention"),
        Rule("decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight", None),  # unused by HF too
        *rms_norm(f"{hf}.layer.1.layer_norm", f"{k}.cross_attention_norm"),
        *feed_forward(f"{hf}.layer.2.DenseReluDense", f"{k}.mlp", gated),
        *rms_norm(f"{hf}.layer.2.layer_norm", f"{k}.mlp_norm"),
        *rms_norm("decoder.final_layer_norm", "decoder.final_norm"),
    ]


def backbone_rules(gated=False):
    """The base model's (``T5Model``) rules; ``gated``: the order that saves v1.1's ``wi_0`` / ``wi_1``."""
    return encoder_rules(gated) + decoder_rules(gated)


def encoder_only_rules(gated=False):
    """``T5EncoderModel``'s rules: the decoder and LM head of a full checkpoint are known and skipped."""
    skipped = [Rule(r.hf, None) for r in decoder_rules(False) if r.keras is not None]
    return encoder_rules(gated) + skipped + [Rule("lm_head.weight", None)]


BACKBONE = backbone_rules()
# lm_head has a tensor of its own only when the config does not tie it to the embeddings (v1.1).
LM_HEAD = [Rule("lm_head.weight", "lm_head.kernel", TRANSPOSE, optional=True)]

# HF's TF and Flax T5 keep the layer-norm parameter's PyTorch name, "weight".
FLAX_KINDS = TF_KINDS = [(r"(layer_norm|final_layer_norm)\.weight$", "param")]

# HF's TF stacks hold the shared embeddings: a single-file tf_model.h5 lists them in their groups too.
TF_SHARED_EMBEDDINGS = [("encoder", "shared/"), ("decoder", "shared/")]

TABLES = register_conversion(ConversionTables(
    BACKBONE, heads={"lm_head": LM_HEAD}, tf_kinds=TF_KINDS, flax_kinds=FLAX_KINDS,
    tf_shared_embeddings=TF_SHARED_EMBEDDINGS,
), "t5", "mt5")
