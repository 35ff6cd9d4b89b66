"""Keras ``compile`` / ``fit`` on a model's own task loss, on every backend.

``KerasTrainingMixin`` is a base of ``PreTrainedModel``. With it:

- ``model.compile(optimizer="adam")`` (no loss) trains on the loss the model computes
  itself from its labels (as ``transformers``' TF models did); ``compile(loss=...)``
  uses that Keras loss on the logits instead.
- Batches may be ``(inputs_dict, labels)`` or one dict holding the labels; labels are
  passed to the model under their argument names (``labels``, ``start_positions``...).
- Metrics given to ``compile`` see the logits (the outputs without the loss).
- ``prepare_tf_dataset`` and ``prepare_dataset`` turn a ``datasets.Dataset`` into batches.

The hooks are backend-independent: ``train_step``/``test_step`` only move the labels
into the inputs and hand over to Keras's own step for the backend; ``compute_loss`` and
``compute_metrics`` read the model's output mapping.
"""

from collections.abc import Mapping

import keras

from keras_tfm.backend import training
from keras_tfm.training.data import BatchSource, model_label_names

_OUTPUT_TYPES = set()


def _register_output(outputs):
    if type(outputs) not in _OUTPUT_TYPES and isinstance(outputs, Mapping):
        _OUTPUT_TYPES.add(type(outputs))
        training.register_output_type(type(outputs))


def _unpack(data):
    return keras.utils.unpack_x_y_sample_weight(data)


class KerasTrainingMixin:
    _internal_loss = True
    _default_training = None  # set True by Trainer while it trains (like torch's model.train())

    # ---- calling: accept a dict of inputs (what Keras passes from a data set) ------------
    def __call__(self, *args, **kwargs):
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs.keys() & set(args[0]):
            kwargs = {**args[0], **kwargs}
            args = ()
        if self._default_training is not None and "training" not in kwargs:
            kwargs["training"] = self._default_training
        outputs = super().__call__(*args, **kwargs)
        _register_output(outputs)
        return outputs

    def stateless_call(self, trainable_variables, non_trainable_variables, *args, **kwargs):
        if len(args) == 1 and isinstance(args[0], Mapping):
            kwargs = {**args[0], **kwargs}
            args = ()
        result = super().stateless_call(trainable_variables, non_trainable_variables, *args, **kwargs)
        _register_output(result[0])  # JAX: a ModelOutput crosses jit / grad as a pytree
        return result

    # ---- compile / fit / steps -----------------------------------------------------------
    def fit(self, *args, **kwargs):
        """Keras ``fit``, with glibc's malloc tuned first (``inference.tune_allocator``: freed
        activations are reused instead of page-faulted in again at every step)."""
        from keras_tfm.inference import tune_allocator

        tune_allocator()
        return super().fit(*args, **kwargs)

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        """Keras ``compile``; ``loss=None`` (or "auto") trains on the model's own task loss."""
        self._internal_loss = loss is None or (isinstance(loss, str) and loss in ("auto", "auto_with_fallback"))
        return super().compile(optimizer, None if self._internal_loss else loss, *args, **kwargs)

    def _with_labels(self, data):
        x, y, sample_weight = _unpack(data)
        if self._internal_loss and y is not None and isinstance(x, Mapping):
            if isinstance(y, Mapping):
                x = {**x, **y}
            else:
                names = model_label_names(self)
                name = "labels" if "labels" in names else (names[0] if names else "labels")
                x = {**x, name: y}
        if self._internal_loss and y is None and isinstance(x, Mapping):
            labels = {k: v for k, v in x.items() if k in model_label_names(self)}
            if labels:  # labels inside the inputs: metrics see them as y
                y = next(iter(labels.values())) if len(labels) == 1 else labels
        return (x, y, sample_weight) if sample_weight is not None else (x, y)

    def train_step(self, *args):
        # torch / tensorflow: train_step(data); jax: train_step(state, data)
        return super().train_step(*args[:-1], self._with_labels(args[-1]))

    def test_step(self, *args):
        return super().test_step(*args[:-1], self._with_labels(args[-1]))

    def predict_step(self, *args):
        outputs = super().predict_step(*args)
        if isinstance(outputs, tuple) and len(outputs) == 2 and isinstance(outputs[0], Mapping):  # jax: (out, state)
            return (self._predictions(outputs[0]), outputs[1])
        return self._predictions(outputs)

    def _predictions(self, outputs):
        if isinstance(outputs, Mapping):
            return {k: v for k, v in outputs.items() if k != "loss"}
        return outputs

    def _metric_input(self, y_pred):
        if isinstance(y_pred, Mapping):
            rest = [v for k, v in y_pred.items() if k != "loss"]
            if len(rest) == 1:
                return rest[0]
            if "logits" in y_pred:
                return y_pred["logits"]
            return tuple(rest)
        return y_pred

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self._internal_loss:
            if not isinstance(y_pred, Mapping) or "loss" not in y_pred:
                raise ValueError(
                    f"compile() was given no loss, so {type(self).__name__} must compute its own, but the batch "
                    f"has no labels (expected one of {model_label_names(self)}). Give labels in the data set, "
                    "or pass loss=... to compile()."
                )
            loss = y_pred["loss"]
            extra = self.losses
            if extra:
                loss = loss + keras.ops.sum(keras.ops.stack([keras.ops.cast(e, loss.dtype) for e in extra]))
            return loss
        return super().compute_loss(x=x, y=y, y_pred=self._metric_input(y_pred), sample_weight=sample_weight,
                                    training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None:
            return self.get_metrics_result()
        return super().compute_metrics(x, y, self._metric_input(y_pred), sample_weight=sample_weight)

    # ---- data sets -----------------------------------------------------------------------
    def prepare_tf_dataset(self, dataset, batch_size=8, shuffle=True, tokenizer=None, collate_fn=None,
                           collate_fn_args=None, drop_remainder=None, prefetch=True, seed=0):
        """A ``tf.data.Dataset`` of ``(inputs, labels)`` batches that ``fit`` takes on every backend.

        Only the columns the model takes are kept; ``label``/``label_ids`` become ``labels``;
        each batch is padded to its longest example by ``collate_fn`` (default:
        ``DataCollatorWithPadding(tokenizer)``, or ``DefaultDataCollator`` without a tokenizer).
        """
        source = BatchSource(self, dataset, batch_size=batch_size, shuffle=shuffle, tokenizer=tokenizer,
                             collate_fn=collate_fn, collate_fn_args=collate_fn_args,
                             drop_remainder=bool(drop_remainder), seed=seed)
        return source.to_tf_dataset(prefetch=prefetch)

    def prepare_dataset(self, dataset, batch_size=8, shuffle=True, tokenizer=None, collate_fn=None,
                        collate_fn_args=None, drop_remainder=False, seed=0):
        """The loader native to the backend: a torch ``DataLoader``, a ``tf.data.Dataset``, or (JAX) a
        ``keras.utils.PyDataset`` of numpy batches. Same batches as ``prepare_tf_dataset``; ``fit`` takes each."""
        source = BatchSource(self, dataset, batch_size=batch_size, shuffle=shuffle, tokenizer=tokenizer,
                             collate_fn=collate_fn, collate_fn_args=collate_fn_args,
                             drop_remainder=drop_remainder, seed=seed)
        return training.data_loader(source)
