"""BLIP: Hugging Face PyTorch names <-> keras_tfm variable paths.

``VISION`` is relative to ``BlipVisionModel``, ``TEXT`` to the text decoder's BERT-style body
(HF's ``text_decoder.bert``), ``LM_HEAD`` to ``BlipTextLMHeadModel``; ``BlipForConditionalGeneration``
mounts them under ``vision_model.`` and ``text_decoder.``.
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import Rule, WeightMap, conv2d, embedding, layer_norm, linear

VLAYER = "encoder.layers.{i}"

VISION = [
    Rule("embeddings.class_embedding", "embeddings.cls_token"),
    Rule("embeddings.position_embedding", "embeddings.position_embeddings"),
    *conv2d("embeddings.patch_embedding", "embeddings.patch_embeddings"),
    *layer_norm(f"{VLAYER}.layer_norm1", f"{VLAYER}.attention_norm"),
    *linear(f"{VLAYER}.self_attn.qkv", f"{VLAYER}.self_attention.qkv_proj"),  # q, k, v stacked on the output axis
    *linear(f"{VLAYER}.self_attn.projection", f"{VLAYER}.self_attention.o_proj"),
    *layer_norm(f"{VLAYER}.layer_norm2", f"{VLAYER}.mlp_norm"),
    *linear(f"{VLAYER}.mlp.fc1", f"{VLAYER}.mlp.up_proj"),
    *linear(f"{VLAYER}.mlp.fc2", f"{VLAYER}.mlp.down_proj"),
    *layer_norm("post_layernorm", "encoder.final_norm"),
]


def _attention(hf, keras):
    """BERT's attention: q / k / v in ``{hf}.self``, the output projection and its post-norm in ``{hf}.output``."""
    return [*linear(f"{hf}.self.query", f"{keras}.q_proj"), *linear(f"{hf}.self.key", f"{keras}.k_proj"),
            *linear(f"{hf}.self.value", f"{keras}.v_proj"), *linear(f"{hf}.output.dense", f"{keras}.o_proj")]


TLAYER, KLAYER = "encoder.layer.{i}", "decoder.layers.{i}"

TEXT = [
    *embedding("embeddings.word_embeddings", "embeddings.token_embedding"),
    *embedding("embeddings.position_embeddings", "embeddings.position_embedding"),
    *layer_norm("embeddings.LayerNorm", "embeddings.norm"),
    *_attention(f"{TLAYER}.attention", f"{KLAYER}.self_attention"),
    *layer_norm(f"{TLAYER}.attention.output.LayerNorm", f"{KLAYER}.attention_norm"),
    *_attention(f"{TLAYER}.crossattention", f"{KLAYER}.cross_attention"),
    *layer_norm(f"{TLAYER}.crossattention.output.LayerNorm", f"{KLAYER}.cross_attention_norm"),
    *linear(f"{TLAYER}.intermediate.dense", f"{KLAYER}.mlp.up_proj"),
    *linear(f"{TLAYER}.output.dense", f"{KLAYER}.mlp.down_proj"),
    *layer_norm(f"{TLAYER}.output.LayerNorm", f"{KLAYER}.mlp_norm"),
    Rule("embeddings.position_ids", None),  # a buffer in older checkpoints
]

LM_HEAD = [
    *linear("cls.predictions.transform.dense", "lm_head.dense"),
    *layer_norm("cls.predictions.transform.LayerNorm", "lm_head.norm"),
    Rule("cls.predictions.bias", "lm_head.bias"),
    Rule("cls.predictions.decoder.weight", None),  # tied to the word embeddings
    Rule("cls.predictions.decoder.bias", None),  # tied to cls.predictions.bias
]

VISION_MAP = WeightMap(VISION, prefix="vision_model")  # also reads a captioner's vision_model.* tensors
TEXT_LM_MAP = WeightMap.compose(WeightMap(TEXT).mount("bert.", ""), WeightMap(LM_HEAD))
CAPTIONING_MAP = WeightMap.compose(WeightMap(VISION).mount("vision_model."), TEXT_LM_MAP.mount("text_decoder."))

# HF's TF BLIP keeps the LM head's decoder as a Dense of its own; PyTorch ties it to the word embeddings.
TF_TIED_COPIES = [("text_decoder.cls.predictions.decoder.weight",
                   "text_decoder.bert.embeddings.word_embeddings.weight")]

TABLES = register_conversion(ConversionTables(VISION, heads={"text": TEXT, "lm": LM_HEAD},
                                              tf_tied_copies=TF_TIED_COPIES), "blip")
