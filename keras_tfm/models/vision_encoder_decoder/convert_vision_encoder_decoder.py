"""VisionEncoderDecoder: Hugging Face PyTorch names <-> keras_tfm variable paths.

The table is composed, never written out: the encoder's rules under ``encoder.``, the decoder's
(its causal LM's, ``transformer.`` and ``lm_head``) under ``decoder.``, and the one tensor of
its own, the projection from the encoder's width to the decoder's.

HF 4's TF and Flax VisionEncoderDecoder classes named the parts' tensors as the parts' own TF /
Flax classes do, so their exceptions compose too (the parts' patterns match name endings); TF
adds one level: the encoder, a TF base model, keeps its main layer (``encoder/vit/...``).
"""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, conversion_tables, register_conversion
from keras_tfm.checkpoints.weight_map import WeightMap, linear
from keras_tfm.models.gpt2 import convert_gpt2  # noqa: F401  (registers the decoder's tables)
from keras_tfm.models.vit import convert_vit  # noqa: F401  (registers the encoder's tables)

# only when the encoder's and decoder's hidden sizes differ
PROJECTION = linear("enc_to_dec_proj", "enc_to_dec_proj")


def weight_map_for(encoder_class, decoder_class):
    """The table of a VisionEncoderDecoderModel over these encoder and decoder classes."""
    return WeightMap.compose(encoder_class.weight_map.mount("encoder."), decoder_class.weight_map.mount("decoder."),
                             WeightMap(PROJECTION))


def composed_tables(encoder_type, encoder_main_layer, decoder_type):
    """The TF / Flax exceptions of an encoder of ``encoder_type`` (whose TF base model's main layer is
    ``encoder_main_layer``) and a decoder of ``decoder_type``, under one VisionEncoderDecoder."""
    enc, dec = conversion_tables(encoder_type), conversion_tables(decoder_type)
    return ConversionTables(
        tf_renames=[(r"^encoder/", f"encoder/{encoder_main_layer}/"), *enc.tf_renames, *dec.tf_renames],
        tf_read_renames=[(rf"^encoder\.{encoder_main_layer}\.", "encoder.")],
        flax_renames=[*enc.flax_renames, *dec.flax_renames], tf_expand=[*enc.tf_expand, *dec.tf_expand],
        kinds=[*enc.kinds, *dec.kinds], tf_kinds=[*enc.tf_kinds, *dec.tf_kinds],
        flax_kinds=[*enc.flax_kinds, *dec.flax_kinds])


# the pair keras_tfm composes: ViT (ydshieh/vit-gpt2-coco-en's encoder) and GPT-2
TABLES = register_conversion(composed_tables("vit", "vit", "gpt2"), "vision-encoder-decoder")
