"""ViLT's other heads, as HF's: NLVR2 (two images per text), the pre-training masked LM, image-text
retrieval, and token classification."""

import numpy as np
from keras import ops

from keras_tfm.layers import Dropout, MaskedLMHead, embedding_table
from keras_tfm.losses import cross_entropy
from keras_tfm.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput, TokenClassifierOutput, _output
from keras_tfm.models.vilt import convert_vilt
from keras_tfm.models.vilt.model_vilt import ViltClassifierHead, ViltTaskModel

ViltForImagesAndTextClassificationOutput = _output("ViltForImagesAndTextClassificationOutput", "loss", "logits",
                                                   "hidden_states", "attentions")


class ViltForImagesAndTextClassification(ViltTaskModel):
    """ViLT for NLVR2: each of ``config.num_images`` images runs with the text through the transformer (image
    ``i`` with modality embedding ``i + 1``); the pooled outputs, concatenated, go through the classifier.

    Call: ``pixel_values`` (B, num_images, C, H, W) (or (B, C, H, W) for one image), ``pixel_mask``
    (B, num_images, H, W), or ``image_embeds`` (B, num_images, L, hidden); ``labels`` (B,) class ids.
    ``hidden_states`` / ``attentions``: a list of one tuple per image, as HF.
    """

    head_rules = convert_vilt.VQA  # the same Sequential layout

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        if not isinstance(config.num_images, int) or config.num_images < 1:
            raise ValueError(f"ViltForImagesAndTextClassification needs config.num_images >= 1, got "
                             f"{config.num_images!r}.")
        if config.modality_type_vocab_size <= config.num_images:
            raise ValueError(f"ViltForImagesAndTextClassification: image i takes modality embedding i + 1, so "
                             f"{config.num_images} images need modality_type_vocab_size >= {config.num_images + 1}; "
                             f"got {config.modality_type_vocab_size}.")
        self.classifier = ViltClassifierHead(config.hidden_size * config.num_images, config.num_labels,
                                             config.initializer_range, dtype=self.dtype_policy)

    def dummy_inputs(self):
        inputs = self.backbone.dummy_inputs()
        pixel_values = inputs["pixel_values"][:, None]
        return {**inputs, "pixel_values": np.repeat(pixel_values, self.config.num_images, axis=1)}

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        if pixel_values is not None and len(pixel_values.shape) == 4:
            pixel_values = pixel_values[:, None]  # one image
        if image_embeds is not None and len(image_embeds.shape) == 3:
            image_embeds = image_embeds[:, None]
        images = pixel_values if pixel_values is not None else image_embeds
        num_images = None if images is None else images.shape[1]
        if num_images != self.config.num_images:
            raise ValueError("Make sure to match the number of images in the model with the number of images in the "
                             f"input: the model takes {self.config.num_images}, the input has {num_images}.")
        pooled, hidden_states, attentions = [], [], []
        for i in range(num_images):
            out = self.backbone(
                input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                pixel_values=None if pixel_values is None else pixel_values[:, i],
                pixel_mask=None if pixel_mask is None else pixel_mask[:, i],
                image_embeds=None if image_embeds is None else image_embeds[:, i], image_token_type_idx=i + 1,
                output_hidden_states=output_hidden_states, output_attentions=output_attentions, training=training)
            pooled.append(out.pooler_output)
            hidden_states.append(out.hidden_states)
            attentions.append(out.attentions)
        logits = self.classifier(ops.concatenate(pooled, axis=-1))  # (B, num_labels)
        loss = None if labels is None else cross_entropy(logits, labels)
        return ViltForImagesAndTextClassificationOutput(
            loss=loss, logits=logits, hidden_states=hidden_states if self.flag("output_hidden_states",
                                                                             output_hidden_states) else None,
            attentions=attentions if self.flag("output_attentions", output_attentions) else None)


class ViltForMaskedLM(ViltTaskModel):
    """ViLT's pre-training masked language model head on the text tokens: ``logits`` (B, T, vocab) through
    dense -> activation -> LayerNorm -> the word embeddings (tied, as HF forces), plus a bias."""

    head_rules = convert_vilt.MASKED_LM

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.lm_head = MaskedLMHead(config.hidden_size, config.vocab_size, config.hidden_act, config.layer_norm_eps,
                                    config.initializer_range, dtype=self.dtype_policy)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, pixel_values, pixel_mask, image_embeds,
                                output_hidden_states, output_attentions, training)
        text = out.last_hidden_state[:, : ops.shape(input_ids)[1]]  # (B, T, C)
        logits = self.lm_head(text, embedding_table(self.get_input_embeddings(), text.dtype))  # (B, T, V)
        loss = None if labels is None else cross_entropy(logits, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class ViltForImageAndTextRetrieval(ViltTaskModel):
    """ViLT with HF's image-text matching score: ``logits`` (B, 1) from the pooled output (no loss, as HF)."""

    head_rules = convert_vilt.RETRIEVAL

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.rank_output = self.dense(1)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        if labels is not None:
            raise NotImplementedError("Training is not yet supported.")  # HF's answer too
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, pixel_values, pixel_mask, image_embeds,
                                output_hidden_states, output_attentions, training)
        return SequenceClassifierOutput(logits=self.rank_output(out.pooler_output), hidden_states=out.hidden_states,
                                        attentions=out.attentions)


class ViltForTokenClassification(ViltTaskModel):
    """ViLT with a linear classifier on each text token: ``logits`` (B, T, num_labels)."""

    head_rules = convert_vilt.TOKEN_CLASSIFIER
    backbone_has_pooler = False

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.classifier = self.dense(config.num_labels)

    def call(self, input_ids, attention_mask=None, token_type_ids=None, pixel_values=None, pixel_mask=None,
             image_embeds=None, labels=None, output_hidden_states=None, output_attentions=None, training=False):
        out = self.run_backbone(input_ids, attention_mask, token_type_ids, pixel_values, pixel_mask, image_embeds,
                                output_hidden_states, output_attentions, training)
        text = self.dropout(out.last_hidden_state[:, : ops.shape(input_ids)[1]], training=training)
        logits = self.classifier(text)  # (B, T, num_labels)
        loss = None if labels is None else cross_entropy(logits, labels)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                     attentions=out.attentions)
