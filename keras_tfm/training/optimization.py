"""Optimizer and learning-rate schedules with PyTorch / Hugging Face semantics, as Keras objects.

- ``AdamW``: ``torch.optim.AdamW`` exactly (epsilon added after the bias correction,
  decoupled weight decay ``p -= lr * wd * p``), with HF's gradient clipping
  (``torch.nn.utils.clip_grad_norm_``: scale by ``max_norm / (norm + 1e-6)`` when above).
- ``HFSchedule``: ``get_scheduler`` of transformers (constant, constant_with_warmup,
  linear, cosine), indexed by optimizer steps.
"""

import math
import re

import keras
from keras import ops

# HF: get_parameter_names(model, ALL_LAYERNORM_LAYERS, ["bias", "layernorm", "rmsnorm", norm names])
_NO_DECAY = re.compile(r"bias|layernorm|layer_norm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)|(?:^|\.)ln_")

SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup")


class HFSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at optimizer step ``t`` (0-based), as HF's LambdaLR schedulers give it."""

    def __init__(self, learning_rate, kind="linear", num_warmup_steps=0, num_training_steps=1,
                 accumulation_steps=1, num_cycles=0.5):
        if kind not in SCHEDULES:
            raise ValueError(f"lr_scheduler_type={kind!r} is not supported; use one of {SCHEDULES}.")
        self.learning_rate = float(learning_rate)
        self.kind = kind
        self.num_warmup_steps = int(num_warmup_steps)
        self.num_training_steps = max(1, int(num_training_steps))
        self.accumulation_steps = max(1, int(accumulation_steps))
        self.num_cycles = float(num_cycles)

    def factor(self, step):
        """The multiplier at step ``step`` (python or tensor)."""
        step = ops.cast(step, "float32")
        warm = float(max(1, self.num_warmup_steps))
        warmup = step / warm
        in_warmup = step < float(self.num_warmup_steps)
        if self.kind == "constant":
            return ops.ones_like(step)
        if self.kind == "constant_with_warmup":
            return ops.where(in_warmup, warmup, 1.0)
        progress = (step - self.num_warmup_steps) / float(max(1, self.num_training_steps - self.num_warmup_steps))
        if self.kind == "linear":
            decay = ops.maximum(0.0, (float(self.num_training_steps) - step) /
                                float(max(1, self.num_training_steps - self.num_warmup_steps)))
        else:  # cosine
            decay = ops.maximum(0.0, 0.5 * (1.0 + ops.cos(math.pi * self.num_cycles * 2.0 * progress)))
        return ops.where(in_warmup, warmup, decay)

    def __call__(self, iterations):
        # Keras passes its raw counter, which counts micro-batches under gradient accumulation.
        step = ops.floor_divide(ops.cast(iterations, "int64"), self.accumulation_steps)
        return self.learning_rate * self.factor(step)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "kind": self.kind, "num_warmup_steps": self.num_warmup_steps,
                "num_training_steps": self.num_training_steps, "accumulation_steps": self.accumulation_steps,
                "num_cycles": self.num_cycles}


class AdamW(keras.optimizers.Optimizer):
    """``torch.optim.AdamW`` as a Keras optimizer (see the module docstring).

    ``max_grad_norm``: clip the (accumulated) gradients to this global norm as HF does.
    Exclude variables from weight decay with ``exclude_from_weight_decay(var_list=...)``.
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01,
                 max_grad_norm=None, name="adamw", **kwargs):
        # Weight decay is applied here (decoupled, before the Adam step), not by Keras's base class.
        super().__init__(learning_rate=learning_rate, weight_decay=None, name=name, **kwargs)
        self.decoupled_weight_decay = float(weight_decay or 0.0)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_grad_norm = max_grad_norm

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = self.add_optimizer_variables(var_list, ["exp_avg", "exp_avg_sq"])

    def _clip_gradients(self, grads):
        if not self.max_grad_norm or self.max_grad_norm <= 0:
            return super()._clip_gradients(grads)
        from keras_tfm.backend import training

        clipped = training.clip_grad_norm(grads, self.max_grad_norm)  # torch: HF's own clip_grad_norm_
        if clipped is not None:
            return clipped
        present = [g for g in grads if g is not None]
        total = ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in present))
        coef = ops.minimum(self.max_grad_norm / (total + 1e-6), 1.0)
        return [None if g is None else g * ops.cast(coef, g.dtype) for g in grads]

    def _apply_weight_decay(self, variables):
        pass  # done in _backend_update_step, as torch.optim.AdamW does

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        from keras_tfm.backend import training

        decay = self.decoupled_weight_decay
        groups = {True: [], False: []}
        for g, v in zip(grads, trainable_variables):
            groups[bool(decay) and self._use_weight_decay(v)].append((g, v))
        for decayed, pairs in groups.items():
            if not pairs:
                continue
            gs, vs = [g for g, _ in pairs], [v for _, v in pairs]
            # torch: torch.optim.AdamW's own multi-tensor kernel on the Keras variables
            if training.adamw_update(self, gs, vs, learning_rate, decay if decayed else 0.0):
                continue
            for g, v in pairs:
                if decayed:
                    lr = ops.cast(learning_rate, v.dtype)
                    v.assign(v * (1 - lr * decay))
                self.update_step(g, v, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        bias_1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        bias_2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._m[self._get_variable_index(variable)]
        v = self._v[self._get_variable_index(variable)]
        self.assign(m, m * self.beta_1 + gradient * (1 - self.beta_1))
        self.assign(v, v * self.beta_2 + ops.square(gradient) * (1 - self.beta_2))
        denom = ops.sqrt(v) / ops.sqrt(bias_2) + self.epsilon
        self.assign_sub(variable, (lr / bias_1) * m / denom)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "weight_decay": self.decoupled_weight_decay,
                       "max_grad_norm": self.max_grad_norm})
        return config


def no_decay_variables(model):
    """Variables HF's Trainer keeps out of weight decay: biases and LayerNorm weights (by HF name)."""
    from keras_tfm.modeling_utils import named_variables

    out = []
    weight_map = getattr(model, "weight_map", None)
    for path, variable in named_variables(model).items():
        if not variable.trainable:
            continue
        name = path
        if weight_map is not None:
            try:
                name = weight_map.hf_name(path) or path
            except Exception:  # noqa: BLE001 - an unmapped path keeps its Keras name
                name = path
        if _NO_DECAY.search(name.lower()) or path.endswith(("gamma", "beta")):
            out.append(variable)
    return out
