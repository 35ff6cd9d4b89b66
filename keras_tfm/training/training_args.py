"""``TrainingArguments``: Hugging Face's names and defaults for what ``Trainer`` honours.

An argument name that ``transformers`` does not have, or that this Trainer does not
implement, is a ``TypeError`` that names it (and the closest known names).

Devices: on the JAX backend, when a ``keras.distribution`` is set (for example
``keras.distribution.DataParallel()`` on a multi-GPU host) each batch of
``per_device_train_batch_size * number of devices`` examples is split over the devices.
On the torch backend, run with ``torchrun --nproc_per_node=N script.py``: each process
takes ``per_device_train_batch_size`` examples and gradients are averaged over processes
(gloo on CPU, NCCL on GPU).
"""

import dataclasses
import difflib
import json
import math
import os

STRATEGIES = ("no", "steps", "epoch")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw", "adamw_hf")
# Accepted for compatibility with HF scripts; they change nothing here.
ACCEPTED_NO_OP = {
    "report_to": "none", "dataloader_num_workers": 0, "dataloader_pin_memory": True, "push_to_hub": False,
    "hub_model_id": None, "run_name": None, "logging_dir": None, "do_train": False, "do_eval": False,
    "do_predict": False, "overwrite_output_dir": False, "ddp_find_unused_parameters": None,
    "include_num_input_tokens_seen": False, "save_safetensors": True, "use_cpu": False, "tf32": None,
    "data_seed": None, "full_determinism": False, "skip_memory_metrics": True, "ddp_backend": None,
    "torch_compile": False, "save_on_each_node": False, "log_level": "passive", "label_smoothing_factor": 0.0,
}


@dataclasses.dataclass
class _Fields:
    output_dir: str = "trainer_output"
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    num_train_epochs: float = 3.0
    max_steps: int = -1
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    warmup_steps: float = 0
    optim: str = "adamw_torch"
    eval_strategy: str = "no"
    eval_steps: float = None
    eval_delay: float = 0
    logging_strategy: str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int = None
    save_only_model: bool = False
    load_best_model_at_end: bool = False
    metric_for_best_model: str = None
    greater_is_better: bool = None
    seed: int = 42
    bf16: bool = False
    fp16: bool = False
    disable_tqdm: bool = False
    remove_unused_columns: bool = True
    label_names: list = None
    dataloader_drop_last: bool = False
    local_rank: int = -1
    prediction_loss_only: bool = False


FIELD_NAMES = [f.name for f in dataclasses.fields(_Fields)]
DEPRECATED = {"evaluation_strategy": "eval_strategy"}


class TrainingArguments(_Fields):
    """Training settings, named as in ``transformers.TrainingArguments``.

    A subclass adds its own settings by extending ``extra_fields`` (name -> default).
    """

    extra_fields = {}

    def __init__(self, output_dir=None, **kwargs):
        for old, new in DEPRECATED.items():
            if old in kwargs:
                kwargs.setdefault(new, kwargs.pop(old))
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in self.extra_fields}
        known = set(FIELD_NAMES) | set(ACCEPTED_NO_OP) | set(self.extra_fields)
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            hints = {k: difflib.get_close_matches(k, sorted(known), n=2) for k in unknown}
            detail = "; ".join(f"{k!r}" + (f" (did you mean {' or '.join(map(repr, v))}?)" if v else "")
                               for k, v in hints.items())
            raise TypeError(f"{type(self).__name__} got unknown argument(s): {detail}. Known: {sorted(known)}.")
        extras = {k: kwargs.pop(k) for k in list(kwargs) if k in ACCEPTED_NO_OP}
        super().__init__(output_dir=output_dir if output_dir is not None else "trainer_output", **kwargs)
        for k, default in ACCEPTED_NO_OP.items():
            setattr(self, k, extras.get(k, default))
        for k, default in self.extra_fields.items():
            setattr(self, k, own.get(k, default))
        self.__post_init__()

    def __post_init__(self):
        self.output_dir = os.fspath(self.output_dir)
        for name in ("eval_strategy", "save_strategy", "logging_strategy"):
            value = str(getattr(self, name)).lower()
            if value not in STRATEGIES:
                raise ValueError(f"{name}={value!r} is not supported; use one of {STRATEGIES}.")
            setattr(self, name, value)
        if self.optim not in OPTIMIZERS:
            raise ValueError(f"optim={self.optim!r} is not supported; use one of {OPTIMIZERS}.")
        if self.bf16 and self.fp16:
            raise ValueError("bf16=True and fp16=True: choose one.")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        if self.eval_steps is None:
            self.eval_steps = self.logging_steps
        if self.load_best_model_at_end:
            if self.metric_for_best_model is None:
                self.metric_for_best_model = "loss"
            if self.eval_strategy == "no":
                raise ValueError("load_best_model_at_end=True needs an eval_strategy ('steps' or 'epoch').")
            if self.save_strategy != self.eval_strategy:
                raise ValueError(
                    f"load_best_model_at_end=True needs save_strategy == eval_strategy; got "
                    f"save_strategy={self.save_strategy!r} and eval_strategy={self.eval_strategy!r}."
                )
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.warmup_ratio and not self.warmup_steps:  # HF 5: warmup_steps < 1 is a ratio
            self.warmup_steps = self.warmup_ratio

    # ---- derived values (HF property names) ----------------------------------------------
    @property
    def n_gpu(self):
        from keras_tfm.backend import training

        return training.num_local_devices()

    @property
    def world_size(self):
        from keras_tfm.backend import training

        return training.distributed_env()[1]

    @property
    def process_index(self):
        from keras_tfm.backend import training

        return training.distributed_env()[0]

    @property
    def should_save(self):
        return self.process_index == 0

    @property
    def train_batch_size(self):
        """Examples per step in one process (split over its devices)."""
        return self.per_device_train_batch_size * max(1, self.n_gpu)

    @property
    def eval_batch_size(self):
        return self.per_device_eval_batch_size * max(1, self.n_gpu)

    def get_warmup_steps(self, num_training_steps):
        w = self.warmup_steps
        return int(math.ceil(num_training_steps * w)) if 0 < w < 1 else int(w)

    def to_dict(self):
        out = {name: getattr(self, name) for name in FIELD_NAMES}
        out.update({k: getattr(self, k) for k in ACCEPTED_NO_OP})
        out.update({k: getattr(self, k) for k in self.extra_fields})
        return out

    def to_json_string(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


class Seq2SeqTrainingArguments(TrainingArguments):
    """``TrainingArguments`` plus the generation settings of ``Seq2SeqTrainer`` (HF names).

    ``predict_with_generate``: evaluate / predict give generated ids as predictions.
    ``generation_max_length`` / ``generation_num_beams``: ``max_length`` / ``num_beams`` of
    that generation (default: the model's generation config). ``generation_config``: a
    ``GenerationConfig``, or a folder / ``generation_config.json`` file to read one from, set
    as the model's. ``sortish_sampler`` is accepted and changes nothing.
    """

    extra_fields = {"sortish_sampler": False, "predict_with_generate": False, "generation_max_length": None,
                    "generation_num_beams": None, "generation_config": None}

    def __post_init__(self):
        super().__post_init__()
        for name in ("generation_max_length", "generation_num_beams"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}.")

    def to_dict(self):
        out = super().to_dict()
        if hasattr(out["generation_config"], "to_dict"):
            out["generation_config"] = out["generation_config"].to_dict()
        elif out["generation_config"] is not None:
            out["generation_config"] = os.fspath(out["generation_config"])
        return out
