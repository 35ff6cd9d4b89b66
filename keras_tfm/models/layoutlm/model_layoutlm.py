"""LayoutLM (Xu et al. 2019): BERT whose embeddings add 2-D positions, from each token's word box."""

import keras
import numpy as np
from keras import ops

from keras_tfm.checkpoints.weight_map import WeightMap
from keras_tfm.layers import TextEmbeddings
from keras_tfm.layers.activations import normal_init
from keras_tfm.models.bert.model_bert import (
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from keras_tfm.models.layoutlm import convert_layoutlm
from keras_tfm.models.layoutlm.config_layoutlm import LayoutLMConfig
from keras_tfm.registry import register_model


class LayoutLMEmbeddings(TextEmbeddings):
    """BERT's embeddings plus, per token, the embeddings of its box ``(left, upper, right, lower)``:
    x of left and right, y of upper and lower, and its height and width."""

    def __init__(self, vocab_size, hidden_size, max_positions, type_vocab_size, max_2d_positions, layer_norm_eps,
                 dropout, initializer_range, **kwargs):
        super().__init__(vocab_size, hidden_size, max_positions, type_vocab_size, layer_norm_eps, dropout,
                         initializer_range, **kwargs)
        for axis in "xyhw":
            setattr(self, f"{axis}_position_embedding", keras.layers.Embedding(
                max_2d_positions, hidden_size, embeddings_initializer=normal_init(initializer_range),
                dtype=self.dtype_policy))

    def call(self, input_ids, bbox, token_type_ids=None, position_ids=None, training=False):
        left, upper, right, lower = (bbox[..., i] for i in range(4))
        x_table, y_table = self.x_position_embedding, self.y_position_embedding
        layout = (x_table(left) + y_table(upper) + x_table(right) + y_table(lower)
                  + self.h_position_embedding(lower - upper) + self.w_position_embedding(right - left))
        return super().call(input_ids, token_type_ids=token_type_ids, position_ids=position_ids, extra=layout,
                            training=training)


def check_bbox(bbox, max_2d_positions):
    """ValueError naming the first bad box of a concrete ``bbox`` (B, T, 4): a coordinate outside
    0..max_2d_positions - 1, or right < left, or lower < upper. Symbolic boxes (a traced step) pass."""
    try:
        boxes = np.asarray(ops.convert_to_numpy(bbox))
    except Exception:  # symbolic (jax.jit, tf.function): nothing to check here
        return
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"bbox must have shape (batch, sequence_length, 4), got {boxes.shape}.")
    outside = (boxes < 0) | (boxes >= max_2d_positions)
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"bbox coordinate {boxes[index]} at bbox{list(index)} is outside 0..{max_2d_positions - 1} "
            f"(max_2d_position_embeddings={max_2d_positions}): boxes are (left, upper, right, lower) "
            "normalised to 0..1000.")
    for (low, high), what in (((0, 2), "right < left"), ((1, 3), "lower < upper")):
        bad = boxes[..., high] < boxes[..., low]
        if bad.any():
            b, t = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"bbox{[b, t]} = {boxes[b, t].tolist()} has {what}: boxes are (left, upper, right, "
                             "lower).")


@register_model("AutoModel")
class LayoutLMModel(BertModel):
    """BERT's backbone over text and word boxes ``bbox`` (B, T, 4); no boxes: all zeros, as HF."""

    config_class = LayoutLMConfig
    base_model_prefix = "layoutlm"
    weight_map = WeightMap(convert_layoutlm.BACKBONE, prefix="layoutlm")

    def make_embeddings(self, config):
        c = config
        return LayoutLMEmbeddings(c.vocab_size, c.hidden_size, c.max_position_embeddings, c.type_vocab_size,
                                  c.max_2d_position_embeddings, c.layer_norm_eps, c.hidden_dropout_prob,
                                  c.initializer_range, dtype=self.dtype_policy)

    def call(self, input_ids, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None,
             output_hidden_states=None, output_attentions=None, training=False):
        if bbox is None:
            bbox = ops.zeros((*ops.shape(input_ids), 4), "int32")
        else:
            check_bbox(bbox, self.config.max_2d_position_embeddings)
            bbox = ops.cast(bbox, "int32")
        x = self.embeddings(input_ids, bbox, token_type_ids=token_type_ids, position_ids=position_ids,
                            training=training)
        return self.encode(x, attention_mask, output_hidden_states, output_attentions, training)


# The heads are BERT's (HF's LayoutLM heads are BERT's, each over a backbone with its pooler);
# each `call` adds `bbox`, second as in HF.

@register_model("AutoModelForSequenceClassification")
class LayoutLMForSequenceClassification(BertForSequenceClassification):
    backbone_class = LayoutLMModel

    def call(self, input_ids, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states,
                                output_attentions, training, bbox=bbox)
        return self.task_outputs(out, labels=labels, training=training)


@register_model("AutoModelForTokenClassification")
class LayoutLMForTokenClassification(BertForTokenClassification):
    backbone_class = LayoutLMModel
    backbone_has_pooler = True

    def call(self, input_ids, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states,
                                output_attentions, training, bbox=bbox)
        return self.task_outputs(out, labels=labels, training=training)


@register_model("AutoModelForQuestionAnswering", "AutoModelForDocumentQuestionAnswering")
class LayoutLMForQuestionAnswering(BertForQuestionAnswering):
    """Start / end logits over the tokens of a question and a document's words (with their boxes)."""

    backbone_class = LayoutLMModel
    backbone_has_pooler = True

    def call(self, input_ids, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None,
             start_positions=None, end_positions=None, output_hidden_states=None, output_attentions=None,
             training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states,
                                output_attentions, training, bbox=bbox)
        return self.task_outputs(out, start_positions=start_positions, end_positions=end_positions,
                                 training=training)


@register_model("AutoModelForMaskedLM")
class LayoutLMForMaskedLM(BertForMaskedLM):
    backbone_class = LayoutLMModel
    backbone_has_pooler = True

    def call(self, input_ids, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None, labels=None,
             output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, position_ids, output_hidden_states,
                                output_attentions, training, bbox=bbox)
        return self.task_outputs(out, labels=labels, training=training)
