"""``Trainer``: Hugging Face's training loop on a Keras 3 model, on every backend.

The loop is written once; what depends on the framework (the compiled train step, the
gradient all-reduce across processes, device placement) comes from
``keras_tfm.backend.training``. Checkpoints are ``checkpoint-N`` folders holding the
model (``config.json`` + ``model.safetensors``, loadable by ``from_pretrained``), the
optimizer and scheduler state, the RNG state and ``trainer_state.json``; each is written
to a temporary folder and renamed into place, so a crash never leaves half a checkpoint.
"""

import collections
import json
import logging
import math
import os
import re
import shutil
import time

import keras
import numpy as np

from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.checkpoints.formats import open_hf_state
from keras_tfm.training import callbacks as cb
from keras_tfm.training.collators import DataCollatorWithPadding, default_data_collator
from keras_tfm.training.data import BatchSource
from keras_tfm.training.optimization import AdamW, HFSchedule, no_decay_variables
from keras_tfm.training.training_args import TrainingArguments
from keras_tfm.utils.io import staged_folder

logger = logging.getLogger(__name__)

PREFIX_CHECKPOINT_DIR = "checkpoint"
TRAINER_STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"
SCHEDULER_NAME = "scheduler.json"
RNG_STATE_NAME = "rng_state.safetensors"
TRAINING_ARGS_NAME = "training_args.json"
LOG_NAME = "trainer_log.jsonl"
CHECKPOINT_FILES = ("config.json", "model.safetensors", OPTIMIZER_NAME, SCHEDULER_NAME, RNG_STATE_NAME,
                    TRAINER_STATE_NAME)


class EvalPrediction:
    """``(predictions, label_ids)`` given to ``compute_metrics``; unpacks as a pair."""

    def __init__(self, predictions, label_ids, inputs=None):
        self.predictions, self.label_ids, self.inputs = predictions, label_ids, inputs

    def __iter__(self):
        return iter((self.predictions, self.label_ids))

    def __getitem__(self, i):
        return (self.predictions, self.label_ids)[i]

    def __len__(self):
        return 2


PredictionOutput = collections.namedtuple("PredictionOutput", ["predictions", "label_ids", "metrics"])
TrainOutput = collections.namedtuple("TrainOutput", ["global_step", "training_loss", "metrics"])
EvalLoopOutput = collections.namedtuple("EvalLoopOutput", ["predictions", "label_ids", "metrics", "num_samples"])


def get_last_checkpoint(folder):
    """The ``checkpoint-N`` folder with the largest N in ``folder`` (None if there is none)."""
    if not os.path.isdir(folder):
        return None
    found = [(int(m.group(1)), name) for name in os.listdir(folder)
             if (m := re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)", name)) and os.path.isdir(os.path.join(folder, name))]
    return os.path.join(folder, max(found)[1]) if found else None


def seed_generators(model):
    """Every ``keras.random.SeedGenerator`` of the model (dropout RNG state), in a fixed order."""
    out, seen = [], set()
    for layer in model._flatten_layers(include_self=True):
        for sg in getattr(layer, "_seed_generators", []):
            if id(sg) not in seen:
                seen.add(id(sg))
                out.append(sg)
    return out


def set_seed(seed):
    """Seeds python, numpy and the Keras backend (as ``transformers.set_seed``)."""
    keras.utils.set_random_seed(int(seed))


class Trainer:
    """Trains, evaluates and predicts with a keras_tfm model, as ``transformers.Trainer`` does.

    Subclass and override ``compute_loss(model, inputs, return_outputs=False,
    num_items_in_batch=None)`` to change the loss: ``inputs`` is the batch dict
    (labels included) and ``model(**inputs)`` runs the model in training mode.
    """

    def __init__(self, model=None, args=None, data_collator=None, train_dataset=None, eval_dataset=None,
                 processing_class=None, model_init=None, compute_metrics=None, callbacks=None,
                 optimizers=(None, None), preprocess_logits_for_metrics=None, tokenizer=None):
        self.args = args if args is not None else TrainingArguments("trainer_output")
        if not isinstance(self.args, TrainingArguments):
            raise TypeError(f"args must be a TrainingArguments, got {type(self.args).__name__}.")
        self._check_output_dir()
        set_seed(self.args.seed)
        if model is None:
            if model_init is None:
                raise ValueError("Trainer needs a model (or model_init).")
            model = model_init()
        self.model_init = model_init
        self.model = model
        if hasattr(model, "build_weights"):
            model.build_weights()
        self.processing_class = processing_class if processing_class is not None else tokenizer
        self.tokenizer = self.processing_class
        if data_collator is None:
            data_collator = (DataCollatorWithPadding(self.processing_class) if hasattr(self.processing_class, "pad")
                             else default_data_collator)
        self.data_collator = data_collator
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_metrics = compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        self._apply_precision()
        default = [cb.DefaultFlowCallback] + ([] if self.args.disable_tqdm else [cb.ProgressCallback])
        self.callback_handler = cb.CallbackHandler(default + list(callbacks or []), self.model,
                                                   self.processing_class, self.optimizer, self.lr_scheduler)
        self.state = cb.TrainerState(is_local_process_zero=self.args.process_index == 0,
                                     is_world_process_zero=self.args.process_index == 0)
        self.control = cb.TrainerControl()
        self._train_step = self._eval_step = None
        self.control = self.callback_handler.on_init_end(self.args, self.state, self.control)

    # ---- callbacks ------------------------------------------------------------------------
    def add_callback(self, callback):
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback):
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback):
        self.callback_handler.remove_callback(callback)

    # ---- setup ----------------------------------------------------------------------------
    def _check_output_dir(self):
        out = self.args.output_dir
        if os.path.exists(out) and not os.path.isdir(out):
            raise NotADirectoryError(f"TrainingArguments.output_dir={out!r} is a file; give a folder path.")

    def _apply_precision(self):
        policy = "mixed_bfloat16" if self.args.bf16 else ("mixed_float16" if self.args.fp16 else None)
        if policy is None:
            return
        for layer in self.model._flatten_layers(include_self=True):
            layer.dtype_policy = keras.DTypePolicy(policy)

    def create_optimizer_and_scheduler(self, num_training_steps):
        args = self.args
        if self.optimizer is None:
            if self.lr_scheduler is None:
                self.lr_scheduler = HFSchedule(args.learning_rate, args.lr_scheduler_type,
                                               args.get_warmup_steps(num_training_steps), num_training_steps,
                                               accumulation_steps=args.gradient_accumulation_steps)
            accumulate = args.gradient_accumulation_steps if args.gradient_accumulation_steps > 1 else None
            optimizer = AdamW(learning_rate=self.lr_scheduler, beta_1=args.adam_beta1, beta_2=args.adam_beta2,
                              epsilon=args.adam_epsilon, weight_decay=args.weight_decay,
                              max_grad_norm=args.max_grad_norm, gradient_accumulation_steps=accumulate)
            optimizer.exclude_from_weight_decay(var_list=no_decay_variables(self.model))
            if args.fp16:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
        self.optimizer.build(self.model.trainable_variables)
        self.callback_handler.optimizer = self.optimizer
        self.callback_handler.lr_scheduler = self.lr_scheduler

    def _source(self, dataset, batch_size, shuffle, shard=(0, 1), drop_last=False):
        if dataset is None:
            raise ValueError("Trainer: no data set given (train_dataset / eval_dataset).")
        return BatchSource(self.model, dataset, batch_size=batch_size, shuffle=shuffle,
                           collate_fn=self.data_collator, drop_remainder=drop_last, seed=self.args.seed,
                           label_names=self.args.label_names, shard=shard,
                           remove_unused_columns=self.args.remove_unused_columns)

    def get_train_dataloader(self):
        from keras_tfm.backend import training

        rank, world = training.distributed_env()
        return self._source(self.train_dataset, self.args.train_batch_size, True, (rank, world),
                            self.args.dataloader_drop_last)

    def get_eval_dataloader(self, eval_dataset=None):
        return self._source(eval_dataset if eval_dataset is not None else self.eval_dataset,
                            self.args.eval_batch_size, False)

    def _batch(self, source, index):
        from keras_tfm.backend import training

        return training.distribute_batch(source.batch(index, return_tensors=training.RETURN_TENSORS, split=False))

    # ---- loss -----------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss (``outputs["loss"]``); override to change it."""
        outputs = model(**inputs)
        if "loss" not in outputs:
            raise ValueError(
                f"The model did not return a loss from inputs with keys {sorted(inputs)}; it returned "
                f"{sorted(outputs)}. Give labels ({self.args.label_names or 'labels'}) in the data set, or "
                "override Trainer.compute_loss."
            )
        loss = outputs["loss"]
        return (loss, outputs) if return_outputs else loss

    # ---- training -------------------------------------------------------------------------
    def train(self, resume_from_checkpoint=None, **kwargs):
        if kwargs:
            raise TypeError(f"train() got unexpected arguments {sorted(kwargs)}.")
        from keras_tfm.backend import training
        from keras_tfm.inference import tune_allocator

        args, model = self.args, self.model
        self._check_output_dir()
        tune_allocator()  # freed activations reused instead of page-faulted in again at every step
        if resume_from_checkpoint is True or resume_from_checkpoint == "last":
            resume_from_checkpoint = get_last_checkpoint(args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"resume_from_checkpoint=True, but {args.output_dir!r} has no checkpoint-N folder.")
        source = self.get_train_dataloader()
        self.callback_handler.train_dataloader = source
        accumulation = args.gradient_accumulation_steps
        steps_per_epoch = len(source) // accumulation
        if steps_per_epoch == 0:
            raise ValueError(f"The training set gives {len(source)} batches, fewer than gradient_accumulation_steps="
                             f"{accumulation}: lower it or the batch size.")
        if args.max_steps > 0:
            max_steps, num_epochs = args.max_steps, math.ceil(args.max_steps / steps_per_epoch)
        else:
            max_steps = math.ceil(args.num_train_epochs * steps_per_epoch)
            num_epochs = math.ceil(args.num_train_epochs)

        def resolve(value):
            return math.ceil(max_steps * value) if value and value < 1 else int(value)

        self.state = cb.TrainerState(max_steps=max_steps, num_train_epochs=num_epochs,
                                     logging_steps=resolve(args.logging_steps), eval_steps=resolve(args.eval_steps),
                                     save_steps=resolve(args.save_steps), train_batch_size=args.train_batch_size,
                                     is_local_process_zero=args.process_index == 0,
                                     is_world_process_zero=args.process_index == 0)
        self.create_optimizer_and_scheduler(max_steps)
        if resume_from_checkpoint is not None:
            self._load_checkpoint(resume_from_checkpoint)
        else:
            for i, sg in enumerate(seed_generators(model)):  # dropout RNG from args.seed
                sg.state.assign(np.array([args.seed + i, 0]).astype(keras.backend.standardize_dtype(sg.state.dtype)))
        if self._train_step is None:
            self._train_step = training.make_train_step(
                model, self.optimizer, lambda inputs: self.compute_loss(model, dict(inputs)))

        epochs_trained = self.state.global_step // steps_per_epoch
        skip = (self.state.global_step % steps_per_epoch) * accumulation
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        start, logged_loss, logged_steps, total_loss = time.time(), 0.0, 0, 0.0
        steps_at_start = self.state.global_step
        model._default_training = True
        try:
            # Resumed from the checkpoint of the last step: nothing is left to train.
            for epoch in range(epochs_trained, num_epochs if self.state.global_step < max_steps else epochs_trained):
                source.epoch = epoch
                self.control = self.callback_handler.on_epoch_begin(args, self.state, self.control)
                step_loss = 0.0
                for i in range(steps_per_epoch * accumulation):
                    if epoch == epochs_trained and i < skip:
                        continue
                    if i % accumulation == 0:
                        self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
                    loss = self._train_step(self._batch(source, i))
                    step_loss += float(training.all_reduce_mean(float(keras.ops.convert_to_numpy(loss))))
                    if (i + 1) % accumulation:
                        self.control = self.callback_handler.on_substep_end(args, self.state, self.control)
                        continue
                    step_loss /= accumulation
                    if not math.isfinite(step_loss):
                        logger.warning("Step %d: the loss is %s.", self.state.global_step + 1, step_loss)
                    logged_loss, logged_steps, total_loss = logged_loss + step_loss, logged_steps + 1, total_loss + step_loss
                    step_loss = 0.0
                    self.state.global_step += 1
                    self.state.epoch = epoch + (i + 1) / (steps_per_epoch * accumulation)
                    self.control = self.callback_handler.on_optimizer_step(args, self.state, self.control)
                    self.control = self.callback_handler.on_step_end(args, self.state, self.control)
                    logged_loss, logged_steps = self._maybe_log_save_evaluate(logged_loss, logged_steps)
                    if self.control.should_epoch_stop or self.control.should_training_stop:
                        break
                self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
                logged_loss, logged_steps = self._maybe_log_save_evaluate(logged_loss, logged_steps)
                if self.control.should_training_stop:
                    break
        finally:
            model._default_training = None
        if args.load_best_model_at_end and self.state.best_model_checkpoint:
            self._load_model_weights(self.state.best_model_checkpoint)
        runtime = time.time() - start
        steps = self.state.global_step - steps_at_start
        train_loss = total_loss / max(steps, 1)
        metrics = {"train_runtime": round(runtime, 4),
                   "train_samples_per_second": round(steps * args.train_batch_size * accumulation / max(runtime, 1e-9), 3),
                   "train_steps_per_second": round(steps / max(runtime, 1e-9), 3),
                   "train_loss": train_loss, "epoch": self.state.epoch}
        self.log(metrics)
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        return TrainOutput(self.state.global_step, train_loss, metrics)

    def _maybe_log_save_evaluate(self, logged_loss, logged_steps):
        if self.control.should_log and logged_steps:
            lr = self.lr_scheduler(max(self.state.global_step - 1, 0) * self.args.gradient_accumulation_steps) \
                if callable(self.lr_scheduler) else self.args.learning_rate
            self.log({"loss": round(logged_loss / logged_steps, 6),
                      "learning_rate": float(keras.ops.convert_to_numpy(lr))})
            logged_loss, logged_steps = 0.0, 0
        metrics = None
        if self.control.should_evaluate:
            metrics = self.evaluate()
        if self.control.should_save:
            self._save_checkpoint(metrics)
            self.control = self.callback_handler.on_save(self.args, self.state, self.control)
        self.control._new_step()
        return logged_loss, logged_steps

    def log(self, logs):
        if self.state.epoch is not None:
            logs = {**logs, "epoch": round(self.state.epoch, 4)}
        output = {**logs, "step": self.state.global_step}
        self.state.log_history.append(output)
        if self.args.should_save:
            os.makedirs(self.args.output_dir, exist_ok=True)
            with open(os.path.join(self.args.output_dir, LOG_NAME), "a", encoding="utf-8") as f:
                f.write(json.dumps(output, default=float) + "\n")
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs=logs)

    # ---- evaluation -----------------------------------------------------------------------
    def _forward(self, inputs):
        outputs = self.model(**inputs, training=False)
        self._output_order = list(outputs)  # set while tracing: a compiled step may give the keys sorted (JAX)
        return dict(outputs)

    def prediction_step(self, inputs, prediction_loss_only, label_names, ignore_keys=None):
        """``(loss, predictions, labels)`` of one batch, as numpy (None where there is none).

        ``loss`` is a float; ``predictions`` the model outputs other than the loss and
        ``ignore_keys`` (default: the config's ``keys_to_ignore_at_inference``), one array or a
        tuple; ``labels`` the batch's ``label_names`` columns.
        """
        from keras_tfm.backend import training

        if self._eval_step is None:
            self._eval_step = training.make_eval_step(self.model, self._forward)
        raw = self._eval_step(inputs)
        order = [k for k in getattr(self, "_output_order", ()) if k in raw] or list(raw)
        outputs = {k: training_to_numpy(raw[k]) for k in order}
        loss = float(outputs["loss"]) if "loss" in outputs else None
        if prediction_loss_only:
            return loss, None, None
        if ignore_keys is None:
            ignore_keys = getattr(getattr(self.model, "config", None), "keys_to_ignore_at_inference", None) or []
        skip = {"loss", "hidden_states", "attentions", *ignore_keys}
        rest = [v for k, v in outputs.items() if k not in skip]
        return loss, (rest[0] if len(rest) == 1 else tuple(rest)), self._labels_of(inputs, label_names)

    @staticmethod
    def _labels_of(inputs, label_names):
        found = [training_to_numpy(inputs[k]) for k in label_names if k in inputs]
        if not found:
            return None
        return found[0] if len(found) == 1 else tuple(found)

    def evaluation_loop(self, dataset, description="Evaluation", prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        source = self.get_eval_dataloader(dataset)
        self.callback_handler.eval_dataloader = source
        if prediction_loss_only is None:
            prediction_loss_only = self.args.prediction_loss_only
        start = time.time()
        losses, predictions, labels = [], [], []
        for i in range(len(source)):
            batch = self._batch(source, i)
            loss, preds, label_ids = self.prediction_step(batch, prediction_loss_only, source.label_names,
                                                          ignore_keys=ignore_keys)
            if loss is not None:
                losses.append(loss)
            if preds is not None:
                if self.preprocess_logits_for_metrics is not None:
                    preds = self.preprocess_logits_for_metrics(preds, None)
                predictions.append(preds)
            if label_ids is not None:
                labels.append(label_ids)
            self.control = self.callback_handler.on_prediction_step(self.args, self.state, self.control)
        predictions = _concat(predictions) if predictions else None
        label_ids = _concat(labels) if labels else None
        metrics = {}
        if self.compute_metrics is not None and predictions is not None and label_ids is not None:
            metrics = dict(self.compute_metrics(EvalPrediction(predictions, label_ids)))
        if losses:
            # As HF: every batch counts as a full eval batch (a short last one too), non-finite ones are skipped.
            finite = [x for x in losses if math.isfinite(x)]
            metrics["loss"] = float(np.mean(finite)) if finite else float("nan")
        runtime = time.time() - start
        n = len(source.rows)
        metrics.update({"runtime": round(runtime, 4), "samples_per_second": round(n / max(runtime, 1e-9), 3),
                        "steps_per_second": round(len(source) / max(runtime, 1e-9), 3)})
        metrics = {(k if k.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{k}"): v
                   for k, v in metrics.items()}
        return EvalLoopOutput(predictions, label_ids, metrics, n)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        output = self.evaluation_loop(eval_dataset, "Evaluation",
                                      prediction_loss_only=True if self.compute_metrics is None else None,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=output.metrics)
        self._last_eval_metrics = output.metrics
        return output.metrics

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix="test"):
        output = self.evaluation_loop(test_dataset, "Prediction", ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, metrics=output.metrics)
        return PredictionOutput(output.predictions, output.label_ids, output.metrics)

    # ---- saving ---------------------------------------------------------------------------
    def save_model(self, output_dir=None, _internal_call=False):
        output_dir = os.fspath(output_dir or self.args.output_dir)
        if not self.args.should_save:
            return
        if os.path.exists(output_dir) and not os.path.isdir(output_dir):
            raise NotADirectoryError(f"save_model: {output_dir!r} is a file, not a folder.")
        self.model.save_pretrained(output_dir)
        if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
            self.processing_class.save_pretrained(output_dir)
        with open(os.path.join(output_dir, TRAINING_ARGS_NAME), "w", encoding="utf-8") as f:
            f.write(self.args.to_json_string())

    def _is_better(self, metrics):
        name = self.args.metric_for_best_model
        if not metrics or name is None:
            return False
        key = name if name.startswith("eval_") else f"eval_{name}"
        if key not in metrics:
            raise KeyError(f"metric_for_best_model={name!r}: {key!r} is not among the evaluation metrics "
                           f"{sorted(metrics)}.")
        value = metrics[key]
        best = self.state.best_metric
        if best is None or (value > best if self.args.greater_is_better else value < best):
            self.state.best_metric = value
            self.state.best_global_step = self.state.global_step
            return True
        return False

    def _save_checkpoint(self, metrics=None):
        from safetensors.numpy import save_file

        from keras_tfm.backend import training

        args = self.args
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        final = os.path.join(args.output_dir, name)
        if self._is_better(metrics):
            self.state.best_model_checkpoint = final
        if not args.should_save:
            return final
        os.makedirs(args.output_dir, exist_ok=True)
        # Written into a hidden sibling and swapped in: the folder appears complete or not at all.
        with staged_folder(final, keep_old_files=False) as tmp:
            self.save_model(tmp, _internal_call=True)
            if not args.save_only_model:
                opt = {f"{i:06d}": _np(v).copy() for i, v in enumerate(self.optimizer.variables)}
                save_file(opt, os.path.join(tmp, OPTIMIZER_NAME),
                          metadata={"paths": json.dumps([v.path for v in self.optimizer.variables])})
                schedule = self.lr_scheduler.get_config() if hasattr(self.lr_scheduler, "get_config") else {}
                with open(os.path.join(tmp, SCHEDULER_NAME), "w", encoding="utf-8") as f:
                    json.dump({"schedule": schedule, "step": self.state.global_step}, f, indent=2)
                rng = {f"seed_generator/{i:04d}": _np(sg.state).copy()
                       for i, sg in enumerate(seed_generators(self.model))}
                rng.update({f"backend/{k}": np.ascontiguousarray(v) for k, v in training.rng_state().items()})
                rng["numpy"] = np.frombuffer(json.dumps(_numpy_rng_state()).encode(), dtype=np.uint8).copy()
                save_file(rng, os.path.join(tmp, RNG_STATE_NAME))
            self.state.save_to_json(os.path.join(tmp, TRAINER_STATE_NAME))
        self._rotate_checkpoints()
        return final

    def _rotate_checkpoints(self):
        limit = self.args.save_total_limit
        if not limit or limit <= 0:
            return
        folder = self.args.output_dir
        found = sorted((int(m.group(1)), os.path.join(folder, n)) for n in os.listdir(folder)
                       if (m := re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)", n)))
        paths = [p for _, p in found]
        best = self.state.best_model_checkpoint
        keep = paths[-limit:]
        if best in paths and best not in keep:  # the best checkpoint is kept too, as HF does
            keep = [best] + (paths[-(limit - 1):] if limit > 1 else paths[-1:])
        for path in paths:
            if path not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # ---- loading --------------------------------------------------------------------------
    def _load_model_weights(self, folder):
        try:
            state = open_hf_state(folder, "pt")
            info = self.model.load_state_dict_hf(state)
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to read is a corrupt checkpoint
            raise CheckpointError(f"Cannot read the model weights in checkpoint {folder!r}: {e}") from e
        if info["missing_keys"]:
            raise CheckpointError(f"Checkpoint {folder!r} lacks weights {info['missing_keys'][:5]} of the model.")

    def _load_checkpoint(self, folder):
        from safetensors.numpy import load_file

        from keras_tfm.backend import training

        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise CheckpointError(f"resume_from_checkpoint={folder!r} is not a folder.")
        needed = CHECKPOINT_FILES if not self.args.save_only_model else CHECKPOINT_FILES[:2] + (TRAINER_STATE_NAME,)
        missing = [n for n in needed if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise CheckpointError(f"Checkpoint {folder!r} is incomplete: {missing} missing; it cannot be resumed from.")
        self._load_model_weights(folder)

        def read(name, fn):
            try:
                return fn(os.path.join(folder, name))
            except Exception as e:  # noqa: BLE001
                raise CheckpointError(f"Cannot resume: {os.path.join(folder, name)!r} is corrupt ({e}).") from e

        state = read(TRAINER_STATE_NAME, cb.TrainerState.load_from_json)
        if self.args.save_only_model:
            self.state.global_step = state.global_step
            return
        opt = read(OPTIMIZER_NAME, load_file)
        variables = self.optimizer.variables
        if len(opt) != len(variables):
            raise CheckpointError(f"{OPTIMIZER_NAME} in {folder!r} has {len(opt)} tensors; this optimizer has "
                                  f"{len(variables)}. Was the checkpoint made with other training arguments?")
        for i, v in enumerate(variables):
            value = opt[f"{i:06d}"]
            if tuple(value.shape) != tuple(v.shape):
                raise CheckpointError(f"{OPTIMIZER_NAME} in {folder!r}: tensor {i} ({v.path}) has shape "
                                      f"{value.shape}, expected {tuple(v.shape)}.")
            v.assign(value)
        rng = read(RNG_STATE_NAME, load_file)
        for i, sg in enumerate(seed_generators(self.model)):
            key = f"seed_generator/{i:04d}"
            if key in rng:
                sg.state.assign(rng[key])
        training.set_rng_state({k.split("/", 1)[1]: v for k, v in rng.items() if k.startswith("backend/")})
        if "numpy" in rng:
            _set_numpy_rng_state(json.loads(rng["numpy"].tobytes().decode()))
        keep = {k: getattr(self.state, k) for k in ("max_steps", "logging_steps", "eval_steps", "save_steps",
                                                   "num_train_epochs", "train_batch_size")}
        self.state = state
        for k, v in keep.items():
            setattr(self.state, k, v)


def _np(v):
    return np.asarray(keras.ops.convert_to_numpy(v.value if hasattr(v, "value") else v))


def training_to_numpy(value):
    from keras_tfm import backend

    if isinstance(value, (tuple, list)):
        return type(value)(training_to_numpy(v) for v in value)
    if backend.is_tensor(value):
        return np.asarray(backend.to_numpy(value))
    return np.asarray(keras.ops.convert_to_numpy(value))


def _numpy_rng_state():
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _set_numpy_rng_state(state):
    kind, keys, pos, has_gauss, cached = state
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _concat(chunks):
    """Concatenates batch outputs along axis 0, padding a differing axis 1 with -100 (as HF)."""
    first = chunks[0]
    if isinstance(first, tuple):
        return tuple(_concat([c[i] for c in chunks]) for i in range(len(first)))
    if first.ndim < 2 or len({c.shape[1:] for c in chunks}) == 1:
        return np.concatenate(chunks, axis=0)
    width = max(c.shape[1] for c in chunks)
    padded = []
    for c in chunks:
        pad = [(0, 0)] * c.ndim
        pad[1] = (0, width - c.shape[1])
        padded.append(np.pad(c, pad, constant_values=-100))
    return np.concatenate(padded, axis=0)
