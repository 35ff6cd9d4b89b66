"""Training glue of the active backend: ``keras_tfm/backend/training_<backend>.py``.

Each of ``training_torch.py``, ``training_tensorflow.py`` and ``training_jax.py``
defines the same names:

- ``RETURN_TENSORS``: the ``return_tensors`` name of the backend's tensors.
- ``data_loader(source)``: the backend's native loader over a ``BatchSource``.
- ``distributed_env()``: ``(rank, world_size)`` of the processes training together.
- ``num_local_devices()``: devices one process splits its batch over.
- ``all_reduce_mean(value)``: the mean of a python float over the processes.
- ``distribute_batch(inputs)``: a host batch placed on the devices (data parallel).
- ``make_train_step(model, optimizer, loss_fn)``: ``step(inputs) -> loss``.
- ``make_eval_step(model, fn)``: ``step(inputs) -> fn(inputs)`` without gradients.
- ``rng_state()`` / ``set_rng_state(state)``: the framework's global RNG, as numpy arrays.
- ``clip_grad_norm(grads, max_norm)``: gradients clipped to a global norm natively, or None.
- ``adamw_update(optimizer, grads, variables, lr, weight_decay)``: a native AdamW step, or False.
- ``register_output_type(cls)``: lets a ``ModelOutput`` class through the backend's transforms.
"""

import importlib

import keras

_impl = importlib.import_module(f"keras_tfm.backend.training_{keras.backend.backend()}")

RETURN_TENSORS = _impl.RETURN_TENSORS
data_loader = _impl.data_loader
distributed_env = _impl.distributed_env
num_local_devices = _impl.num_local_devices
all_reduce_mean = _impl.all_reduce_mean
distribute_batch = _impl.distribute_batch
make_train_step = _impl.make_train_step
make_eval_step = _impl.make_eval_step
rng_state = _impl.rng_state
set_rng_state = _impl.set_rng_state
register_output_type = _impl.register_output_type
clip_grad_norm = _impl.clip_grad_norm
adamw_update = _impl.adamw_update
