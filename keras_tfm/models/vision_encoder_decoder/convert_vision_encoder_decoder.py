"""VisionEncoderDecoder: Hugging Face PyTorch names <-> keras_tfm variable paths.

The table is composed, never written out: the encoder's rules under ``encoder.``, the decoder's
(its causal LM's, ``transformer.`` and ``lm_head``) under ``decoder.``, and the one tensor of
its own, the projection from the encoder's width to the decoder's.
"""

from keras_tfm.checkpoints.weight_map import WeightMap, linear

# only when the encoder's and decoder's hidden sizes differ
PROJECTION = linear("enc_to_dec_proj", "enc_to_dec_proj")


def weight_map_for(encoder_class, decoder_class):
    """The table of a VisionEncoderDecoderModel over these encoder and decoder classes."""
    return WeightMap.compose(encoder_class.weight_map.mount("encoder."), decoder_class.weight_map.mount("decoder."),
                             WeightMap(PROJECTION))
