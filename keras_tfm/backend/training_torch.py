"""Training glue for the PyTorch backend (see keras_tfm/backend/training.py)."""

import atexit
import os

import torch

RETURN_TENSORS = "pt"


def data_loader(source):
    """A ``torch.utils.data.DataLoader`` over the collated batches of ``source`` (a BatchSource)."""
    import torch.utils.data

    class _Batches(torch.utils.data.Dataset):
        def __len__(self):
            return len(source)

        def __getitem__(self, index):
            return source.batch(index, return_tensors="pt")

    class _EpochSampler(torch.utils.data.Sampler):
        def __len__(self):
            return len(source)

        def __iter__(self):
            yield from range(len(source))
            source.on_epoch_end()

    return torch.utils.data.DataLoader(_Batches(), batch_size=None, sampler=_EpochSampler())


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def distributed_env():
    """(rank, world_size) of torch.distributed, set up from torchrun's variables when present."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        # The group we started is ours to end: left to interpreter shutdown, gloo's threads can be
        # destroyed while still joinable, and the process aborts ("terminate called without an active
        # exception", seen in CI on a loaded 2-core machine).
        atexit.register(_destroy_process_group)
    d = _dist()
    return (d.get_rank(), d.get_world_size()) if d else (0, 1)


def _destroy_process_group():
    d = _dist()
    if d is not None:
        d.destroy_process_group()


def num_local_devices():
    return 1  # one process per device (torchrun); data parallelism is across processes


def all_reduce_mean(value):
    d = _dist()
    if d is None or d.get_world_size() == 1:
        return value
    t = torch.tensor(float(value), dtype=torch.float64)
    d.all_reduce(t)
    return float(t) / d.get_world_size()


def distribute_batch(inputs):
    return inputs


def make_train_step(model, optimizer, loss_fn):
    """``step(inputs) -> loss``: forward, backward, gradient all-reduce across processes, update."""
    variables = list(model.trainable_variables)
    d = _dist()
    world = d.get_world_size() if d else 1

    def step(inputs):
        for v in variables:
            v.value.grad = None
        loss = loss_fn(inputs)
        optimizer.scale_loss(loss).backward()
        grads = [v.value.grad for v in variables]
        if world > 1:  # data parallel: average the gradients of all processes (what DDP does)
            for g in grads:
                if g is not None:
                    d.all_reduce(g)
                    g.div_(world)
        with torch.no_grad():
            optimizer.apply(grads, variables)
        return loss.detach()

    return step


def make_eval_step(model, fn):
    def step(inputs):
        with torch.no_grad():
            return fn(inputs)

    return step


def rng_state():
    return {"torch": torch.get_rng_state().numpy()}


def set_rng_state(state):
    if "torch" in state:
        torch.set_rng_state(torch.from_numpy(state["torch"].astype("uint8")))


def register_output_type(cls):
    """Nothing to do: outputs cross this backend's compiled functions as mappings."""


def adamw_update(optimizer, grads, variables, learning_rate, weight_decay):
    """One step of torch.optim.AdamW's multi-tensor kernel on Keras variables (exactly torch's numerics).

    ``optimizer`` is keras_tfm's AdamW (its exp_avg / exp_avg_sq slots); returns True (done).
    """
    from torch.optim.adamw import adamw

    index = optimizer._get_variable_index
    params = [v.value for v in variables]
    exp_avgs = [optimizer._m[index(v)].value for v in variables]
    exp_avg_sqs = [optimizer._v[index(v)].value for v in variables]
    step = float(optimizer.iterations.detach().cpu()) if torch.is_tensor(optimizer.iterations) \
        else float(optimizer.iterations.value)
    steps = [torch.tensor(step) for _ in params]  # adamw() adds 1 before using them
    lr = float(learning_rate.detach().cpu()) if torch.is_tensor(learning_rate) else float(learning_rate)
    with torch.no_grad():
        adamw(params, [g.to(p.dtype) for g, p in zip(grads, params)], exp_avgs, exp_avg_sqs, [], steps,
              foreach=True, amsgrad=False, beta1=optimizer.beta_1, beta2=optimizer.beta_2, lr=lr,
              weight_decay=weight_decay, eps=optimizer.epsilon, maximize=False)
    return True
