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


def clip_grad_norm(grads, max_norm):
    """``torch.nn.utils.clip_grad_norm_`` on a list of gradients (None entries kept), as HF clips.

    Per-tensor norms, then their norm, then one in-place multiply per tensor (the foreach kernels):
    one pass over the gradients instead of a Keras op or two per tensor.
    """
    present = [g for g in grads if g is not None]
    if not present:
        return grads
    total = torch.nn.utils.get_total_norm(present, norm_type=2.0, foreach=True)
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # clip_grads_with_norm_'s rule
    torch._foreach_mul_(present, coef.to(present[0].device))
    return grads


def adamw_update(optimizer, grads, variables, learning_rate, weight_decay):
    """One step of torch.optim.AdamW on Keras variables (exactly torch's numerics).

    The fused kernel where this torch has it for the device (HF's default optimizer,
    ``adamw_torch_fused``), else the multi-tensor one.

    ``optimizer`` is keras_tfm's AdamW (its exp_avg / exp_avg_sq slots); returns True (done).
    """
    from torch.optim.adamw import adamw

    index = optimizer._get_variable_index
    params = [v.value for v in variables]
    exp_avgs = [optimizer._m[index(v)].value for v in variables]
    exp_avg_sqs = [optimizer._v[index(v)].value for v in variables]
    step = float(optimizer.iterations.detach().cpu()) if torch.is_tensor(optimizer.iterations) \
        else float(optimizer.iterations.value)
    lr = float(learning_rate.detach().cpu()) if torch.is_tensor(learning_rate) else float(learning_rate)
    grads = [g.to(p.dtype) for g, p in zip(grads, params)]
    fused = _fused_adamw_supported(params)
    # adamw() adds 1 to the steps before using them; the fused kernel wants them on the params' device
    steps = [torch.tensor(step, device=p.device if fused else "cpu") for p in params]
    with torch.no_grad():
        adamw(params, grads, exp_avgs, exp_avg_sqs, [], steps, foreach=not fused, fused=fused or None,
              amsgrad=False, beta1=optimizer.beta_1, beta2=optimizer.beta_2, lr=lr,
              weight_decay=weight_decay, eps=optimizer.epsilon, maximize=False)
    return True


def _fused_adamw_supported(params):
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:  # a torch without the helper: the multi-tensor kernel it surely has
        return False
    devices = _get_fused_kernels_supported_devices()
    return all(p.device.type in devices and p.is_floating_point() for p in params)
