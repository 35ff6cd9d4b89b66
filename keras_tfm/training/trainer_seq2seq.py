"""``Seq2SeqTrainer``: ``Trainer`` whose evaluation can generate, as ``transformers``' does.

With ``Seq2SeqTrainingArguments(predict_with_generate=True)``, ``evaluate`` and
``predict`` run ``model.generate`` on each batch (``max_length`` / ``num_beams`` from the
call, else ``generation_max_length`` / ``generation_num_beams``, else the model's
generation config). The predictions given to ``compute_metrics`` are the generated ids,
and the labels the batch's labels; both are padded with the pad token up to the model's
``generation_config.max_length`` (or ``max_new_tokens + 1``) when shorter, then batches of
different widths are joined with -100 padding, exactly as HF 4 and 5 do.
"""

import copy
import os

import numpy as np

from keras_tfm.training.collators import DataCollatorForSeq2Seq
from keras_tfm.training.trainer import Trainer, training_to_numpy
from keras_tfm.training.training_args import Seq2SeqTrainingArguments

# Decoder inputs made from the labels (by the collator): generate() makes its own.
DECODER_KEYS = ("decoder_input_ids", "decoder_attention_mask")


class Seq2SeqTrainer(Trainer):
    """``Trainer`` for encoder-decoder models; see the module docstring.

    Takes the arguments of ``Trainer``; ``args`` is a ``Seq2SeqTrainingArguments``
    (a plain ``TrainingArguments`` works too, without generation). Given a tokenizer and no
    ``data_collator``, batches are made by ``DataCollatorForSeq2Seq(tokenizer, model)``.
    """

    def __init__(self, model=None, args=None, data_collator=None, **kwargs):
        if args is None:
            args = Seq2SeqTrainingArguments("trainer_output")
        tokenizer = kwargs.get("processing_class", kwargs.get("tokenizer"))
        if data_collator is None and hasattr(tokenizer, "pad"):
            # HF would pad inputs only and fail on targets of different lengths; this pads both.
            data_collator = DataCollatorForSeq2Seq(tokenizer, model=model)
        super().__init__(model=model, args=args, data_collator=data_collator, **kwargs)
        self._gen_kwargs = {}
        config = getattr(self.args, "generation_config", None)
        if config is not None:
            self.model.generation_config = self.load_generation_config(config)

    @staticmethod
    def load_generation_config(gen_config_arg):
        """A ``GenerationConfig`` from one (copied), a folder, or a ``generation_config.json`` path."""
        from keras_tfm.generation import GenerationConfig

        if isinstance(gen_config_arg, GenerationConfig):
            config = copy.deepcopy(gen_config_arg)
        elif isinstance(gen_config_arg, (str, os.PathLike)):
            path = os.fspath(gen_config_arg)
            if os.path.isfile(path):
                config = GenerationConfig.from_pretrained(os.path.dirname(path) or ".", os.path.basename(path))
            else:
                config = GenerationConfig.from_pretrained(path)
        else:
            raise TypeError("Seq2SeqTrainingArguments.generation_config must be a GenerationConfig, a folder or a "
                            f"file path; got {type(gen_config_arg).__name__}.")
        try:
            config.validate()
        except ValueError as e:
            raise ValueError(f"{e}\n\nFix these issues to train your model.") from e
        return config

    # ---- evaluation with generate() ---------------------------------------------------------
    def _set_gen_kwargs(self, gen_kwargs):
        gen_kwargs = dict(gen_kwargs)
        max_length = getattr(self.args, "generation_max_length", None)
        num_beams = getattr(self.args, "generation_num_beams", None)
        if gen_kwargs.get("max_length") is None and gen_kwargs.get("max_new_tokens") is None and max_length:
            gen_kwargs["max_length"] = max_length
        if gen_kwargs.get("num_beams") is None and num_beams is not None:
            gen_kwargs["num_beams"] = num_beams
        self._gen_kwargs = {k: v for k, v in gen_kwargs.items() if v is not None}

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval", **gen_kwargs):
        """``Trainer.evaluate``; ``max_length``, ``num_beams`` and other ``generate`` arguments are
        used when ``predict_with_generate`` is on."""
        self._set_gen_kwargs(gen_kwargs)
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix="test", **gen_kwargs):
        """``Trainer.predict``; with ``predict_with_generate`` the predictions are generated ids."""
        self._set_gen_kwargs(gen_kwargs)
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def prediction_step(self, inputs, prediction_loss_only, label_names, ignore_keys=None):
        if not getattr(self.args, "predict_with_generate", False) or prediction_loss_only:
            return super().prediction_step(inputs, prediction_loss_only, label_names, ignore_keys=ignore_keys)
        generation_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        if "labels" in inputs and _shape(inputs["labels"]) == _shape(inputs.get("decoder_input_ids")):
            generation_inputs = {k: v for k, v in generation_inputs.items() if k not in DECODER_KEYS}
        training_mode, self.model._default_training = self.model._default_training, False
        try:  # evaluation inside train(): generate without dropout
            generated = training_to_numpy(self.model.generate(**generation_inputs, **self._gen_kwargs))
        finally:
            self.model._default_training = training_mode
        loss = None
        if "labels" in inputs:
            loss, _, _ = super().prediction_step(inputs, True, label_names)
        if self.args.prediction_loss_only:
            return loss, None, None
        labels = training_to_numpy(inputs["labels"]) if "labels" in inputs else None
        width = self._padded_width()
        return loss, self._pad_to(generated, width), (None if labels is None else self._pad_to(labels, width))

    def _padded_width(self):
        config = self.model.generation_config
        return config.max_length, (config.max_new_tokens + 1 if config.max_new_tokens is not None else None)

    def _pad_to(self, ids, width):
        max_length, new_tokens_width = width
        if ids.shape[-1] < max_length:
            target = max_length
        elif new_tokens_width is not None and ids.shape[-1] < new_tokens_width:
            target = new_tokens_width
        else:
            return ids
        out = np.full((ids.shape[0], target), self._pad_token_id(), dtype=ids.dtype)
        out[:, :ids.shape[-1]] = ids
        return out

    def _pad_token_id(self):
        tokenizer = self.processing_class
        if tokenizer is not None and hasattr(tokenizer, "pad_token_id"):
            return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        pad = getattr(self.model.config, "pad_token_id", None)
        if pad is None:
            raise ValueError("Seq2SeqTrainer: pad_token_id must be set in the model's config (or give a tokenizer) "
                             "to pad the generated ids.")
        return pad


def _shape(tensor):
    return None if tensor is None else tuple(tensor.shape)
