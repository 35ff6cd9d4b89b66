"""Training glue for the TensorFlow backend (see keras_tfm/backend/training.py)."""

import tensorflow as tf

RETURN_TENSORS = "tf"


def data_loader(source):
    """A ``tf.data.Dataset`` over the collated batches of ``source`` (a BatchSource)."""
    return source.to_tf_dataset()


def distributed_env():
    return 0, 1


def num_local_devices():
    return 1


def all_reduce_mean(value):
    return value


def distribute_batch(inputs):
    return inputs


def make_train_step(model, optimizer, loss_fn):
    """``step(inputs) -> loss``: a tf.function (one trace per batch shape) with a GradientTape."""
    variables = list(model.trainable_variables)
    optimizer.build(variables)

    @tf.function(reduce_retracing=True)
    def step(inputs):
        with tf.GradientTape() as tape:
            loss = loss_fn(inputs)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        optimizer.apply(grads, variables)
        return loss

    return step


def make_eval_step(model, fn):
    return tf.function(fn, reduce_retracing=True)


def rng_state():
    return {}


def set_rng_state(state):
    pass


def register_output_type(cls):
    """Nothing to do: outputs cross this backend's compiled functions as mappings."""


def clip_grad_norm(grads, max_norm):
    """No backend kernel: keras_tfm's AdamW clips with Keras ops; returns None."""
    return None


def adamw_update(optimizer, grads, variables, learning_rate, weight_decay):
    """No backend kernel: keras_tfm's AdamW runs its own (Keras ops) update; returns False."""
    return False
