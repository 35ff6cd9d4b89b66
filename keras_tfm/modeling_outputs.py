"""Model outputs: ordered mappings with attribute access, as in Hugging Face.

``out.logits``, ``out["logits"]``, ``out[0]`` and ``out.to_tuple()`` all work; fields
that are None are left out of the mapping (and so of ``to_tuple``), as HF does.
"""

from collections import OrderedDict


class ModelOutput(OrderedDict):
    fields = ()

    def __init__(self, *args, **kwargs):
        unknown = set(kwargs) - set(self.fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}.")
        super().__init__((k, kwargs[k]) for k in self.fields if kwargs.get(k) is not None)

    def __getattr__(self, key):
        if key in self:
            return self[key]
        if key in type(self).fields:
            return None
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __getitem__(self, key):
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        return super().__getitem__(key)

    def to_tuple(self):
        return tuple(self.values())

    def __reduce__(self):
        return (_rebuild, (type(self), dict(self)))


def _rebuild(cls, items):
    return cls(**items)


def _output(name, *fields):
    return type(name, (ModelOutput,), {"fields": fields, "__doc__": f"Output fields: {', '.join(fields)}."})


BaseModelOutput = _output("BaseModelOutput", "last_hidden_state", "hidden_states", "attentions")
BaseModelOutputWithPooling = _output(
    "BaseModelOutputWithPooling", "last_hidden_state", "pooler_output", "hidden_states", "attentions"
)
SequenceClassifierOutput = _output("SequenceClassifierOutput", "loss", "logits", "hidden_states", "attentions")
TokenClassifierOutput = _output("TokenClassifierOutput", "loss", "logits", "hidden_states", "attentions")
MaskedLMOutput = _output("MaskedLMOutput", "loss", "logits", "hidden_states", "attentions")
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", "loss", "start_logits", "end_logits", "hidden_states", "attentions"
)
# Decoder-only models (text generation): ``past_key_values`` is the static KV cache, when one was passed.
BaseModelOutputWithPast = _output("BaseModelOutputWithPast", "last_hidden_state", "past_key_values", "hidden_states",
                                  "attentions")
CausalLMOutputWithPast = _output("CausalLMOutputWithPast", "loss", "logits", "past_key_values", "hidden_states",
                                 "attentions")
# Decoders that may attend to an encoder (GPT-2 with add_cross_attention).
BaseModelOutputWithPastAndCrossAttentions = _output(
    "BaseModelOutputWithPastAndCrossAttentions", "last_hidden_state", "past_key_values", "hidden_states", "attentions",
    "cross_attentions")
CausalLMOutputWithCrossAttentions = _output("CausalLMOutputWithCrossAttentions", "loss", "logits", "past_key_values",
                                            "hidden_states", "attentions", "cross_attentions")
SequenceClassifierOutputWithPast = _output("SequenceClassifierOutputWithPast", "loss", "logits", "past_key_values",
                                           "hidden_states", "attentions")
# Encoder-decoders (BART, T5): the decoder's outputs, then the encoder's.
_SEQ2SEQ_STATES = ("decoder_hidden_states", "decoder_attentions", "cross_attentions", "encoder_last_hidden_state",
                   "encoder_hidden_states", "encoder_attentions")
Seq2SeqModelOutput = _output("Seq2SeqModelOutput", "last_hidden_state", "past_key_values", *_SEQ2SEQ_STATES)
Seq2SeqLMOutput = _output("Seq2SeqLMOutput", "loss", "logits", "past_key_values", *_SEQ2SEQ_STATES)
Seq2SeqSequenceClassifierOutput = _output("Seq2SeqSequenceClassifierOutput", "loss", "logits", "past_key_values",
                                          *_SEQ2SEQ_STATES)
Seq2SeqQuestionAnsweringModelOutput = _output("Seq2SeqQuestionAnsweringModelOutput", "loss", "start_logits",
                                              "end_logits", "past_key_values", *_SEQ2SEQ_STATES)
# Vision models. Feature maps (ResNet's states, SegFormer's logits) are channels first, as HF's.
BaseModelOutputWithNoAttention = _output("BaseModelOutputWithNoAttention", "last_hidden_state", "hidden_states")
BaseModelOutputWithPoolingAndNoAttention = _output("BaseModelOutputWithPoolingAndNoAttention", "last_hidden_state",
                                                   "pooler_output", "hidden_states")
ImageClassifierOutput = _output("ImageClassifierOutput", "loss", "logits", "hidden_states", "attentions")
ImageClassifierOutputWithNoAttention = _output("ImageClassifierOutputWithNoAttention", "loss", "logits",
                                               "hidden_states")
# A backbone's feature maps (``out_features`` of its config) for a detection / segmentation model.
BackboneOutput = _output("BackboneOutput", "feature_maps", "hidden_states", "attentions")
SemanticSegmenterOutput = _output("SemanticSegmenterOutput", "loss", "logits", "hidden_states", "attentions")
# Audio. CTC models: per-frame logits (B, frames, vocab); Wav2Vec2's base model also returns the conv
# features after the feature projection's norm (B, frames, conv_dim[-1]).
CausalLMOutput = _output("CausalLMOutput", "loss", "logits", "hidden_states", "attentions")
Wav2Vec2BaseModelOutput = _output("Wav2Vec2BaseModelOutput", "last_hidden_state", "extract_features", "hidden_states",
                                  "attentions")

# Image-to-text. BLIP's captioner: the text decoder's loss and logits, the image embeddings (the vision
# model's last hidden state), its hidden states and attentions; ``past_key_values``: the static KV cache
# during generation.
CausalLMOutputWithCrossAttentions = _output("CausalLMOutputWithCrossAttentions", "loss", "logits", "past_key_values",
                                            "hidden_states", "attentions", "cross_attentions")
BlipForConditionalGenerationModelOutput = _output("BlipForConditionalGenerationModelOutput", "loss", "logits",
                                                  "image_embeds", "last_hidden_state", "hidden_states", "attentions",
                                                  "past_key_values")
