"""Training glue for the JAX backend (see keras_tfm/backend/training.py)."""

import functools

import jax
import keras
import numpy as np

from keras_tfm.backend.jax import jit

RETURN_TENSORS = "jax"


def data_loader(source):
    """A ``keras.utils.PyDataset`` of numpy batches (what JAX input pipelines feed on)."""
    return source.to_py_dataset()


def distributed_env():
    return jax.process_index(), jax.process_count()


def num_local_devices():
    """Devices the batch is split over: those of keras.distribution's mesh, when one is set."""
    dist = keras.distribution.distribution()
    return int(np.prod(dist.device_mesh.shape)) if dist is not None else 1


def all_reduce_mean(value):
    return value


def distribute_batch(inputs):
    """Shards a host batch over the devices of keras.distribution (data parallel), if one is set."""
    dist = keras.distribution.distribution()
    if dist is None:
        return inputs
    return {k: jax.device_put(np.asarray(v), dist.get_data_layout(np.shape(v)).backend_layout)
            for k, v in inputs.items()}


def _stateless(model, extra_variables, fn):
    """``f(trainable, non_trainable, extra, inputs) -> (fn(inputs), new_non_trainable)``, pure for jax."""
    tv, ntv = list(model.trainable_variables), list(model.non_trainable_variables)

    def f(tvals, ntvals, evals, inputs):
        mapping = list(zip(tv, tvals)) + list(zip(ntv, ntvals)) + list(zip(extra_variables, evals))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            out = fn(inputs)
        new_nt = []
        for v, old in zip(ntv, ntvals):
            new = scope.get_current_value(v)
            new_nt.append(old if new is None else new)
        return out, new_nt

    return f


def make_train_step(model, optimizer, loss_fn):
    """``step(inputs) -> loss``: one jitted function (grads + optimizer); state written back each step."""
    tv, ntv = list(model.trainable_variables), list(model.non_trainable_variables)
    optimizer.build(tv)
    ov = list(optimizer.variables)

    def scaled_loss(inputs):
        loss = loss_fn(inputs)
        return optimizer.scale_loss(loss), loss

    forward = _stateless(model, ov, scaled_loss)

    def objective(tvals, ntvals, ovals, inputs):
        (scaled, loss), new_nt = forward(tvals, ntvals, ovals, inputs)
        return scaled, (loss, new_nt)

    # The old weights and optimizer state are donated: XLA writes the new ones into their
    # buffers instead of allocating (and filling) a second copy of each at every step.
    @functools.partial(jit, donate_argnums=(0, 1, 2))
    def jitted(tvals, ntvals, ovals, inputs):
        (_, (loss, new_nt)), grads = jax.value_and_grad(objective, has_aux=True)(tvals, ntvals, ovals, inputs)
        new_tv, new_ov = optimizer.stateless_apply(ovals, grads, tvals)
        return loss, new_tv, new_nt, new_ov

    def step(inputs):
        loss, new_tv, new_nt, new_ov = jitted([v.value for v in tv], [v.value for v in ntv],
                                              [v.value for v in ov], inputs)
        for variables, values in ((tv, new_tv), (ntv, new_nt), (ov, new_ov)):
            for v, value in zip(variables, values):
                v.assign(value)
        return loss

    return step


def make_eval_step(model, fn):
    """``step(inputs) -> fn(inputs)`` jitted, reading the model's current weights at each call."""
    tv, ntv = list(model.trainable_variables), list(model.non_trainable_variables)
    forward = _stateless(model, [], fn)
    jitted = jit(lambda tvals, ntvals, inputs: forward(tvals, ntvals, [], inputs)[0])

    def step(inputs):
        return jitted([v.value for v in tv], [v.value for v in ntv], inputs)

    return step


def rng_state():
    return {}


def set_rng_state(state):
    pass


_REGISTERED = set()


def register_output_type(cls):
    """Makes a ``ModelOutput`` class a JAX pytree (keys kept), so outputs cross jit / eval_shape."""
    if cls in _REGISTERED:
        return
    _REGISTERED.add(cls)

    def flatten(out):
        keys = tuple(out.keys())
        return [out[k] for k in keys], keys

    def unflatten(keys, children):
        return cls(**dict(zip(keys, children)))

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)


def clip_grad_norm(grads, max_norm):
    """No backend kernel: keras_tfm's AdamW clips with Keras ops; returns None."""
    return None


def adamw_update(optimizer, grads, variables, learning_rate, weight_decay):
    """No backend kernel: keras_tfm's AdamW runs its own (Keras ops) update; returns False."""
    return False
