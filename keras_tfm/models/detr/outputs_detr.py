"""DETR's outputs, with Hugging Face's fields and order."""

from keras_tfm.modeling_outputs import _output

_STATES = ("decoder_hidden_states", "decoder_attentions", "cross_attentions", "encoder_last_hidden_state",
           "encoder_hidden_states", "encoder_attentions")

DetrModelOutput = _output("DetrModelOutput", "last_hidden_state", "past_key_values", *_STATES,
                          "intermediate_hidden_states")
DetrObjectDetectionOutput = _output("DetrObjectDetectionOutput", "loss", "loss_dict", "logits", "pred_boxes",
                                    "auxiliary_outputs", "last_hidden_state", *_STATES)
DetrSegmentationOutput = _output("DetrSegmentationOutput", "loss", "loss_dict", "logits", "pred_boxes", "pred_masks",
                                 "auxiliary_outputs", "last_hidden_state", *_STATES)
