"""Task losses, computed as Hugging Face computes them (ignore index -100 included)."""

from keras import ops

from keras_tfm import backend

IGNORE_INDEX = -100


def cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, label_smoothing=0.0):
    """Mean cross-entropy over positions whose label is not ``ignore_index``. logits (..., C), labels (...).

    ``label_smoothing`` ε: the target is (1 - ε) one-hot + ε uniform, as torch's ``CrossEntropyLoss``.
    """
    logits = ops.cast(ops.reshape(logits, (-1, ops.shape(logits)[-1])), "float32")
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    valid = ops.not_equal(labels, ignore_index)
    _check_labels(labels, valid, logits.shape[-1], ignore_index)
    safe = ops.where(valid, labels, 0)
    log_probs = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(log_probs, safe[:, None], axis=-1)[:, 0]
    if label_smoothing:
        picked = (1.0 - label_smoothing) * picked + label_smoothing * ops.mean(log_probs, axis=-1)
    weights = ops.cast(valid, "float32")
    return -ops.sum(picked * weights) / ops.maximum(ops.sum(weights), 1.0)


def _check_labels(labels, valid, num_classes, ignore_index):
    """ValueError for a label outside 0..num_classes - 1 (other than ignore_index), where the labels'
    values are known (eager calls; compiled train steps cannot look). Without it torch and TF pick
    another class's log-probability silently and JAX returns NaN."""
    if num_classes is None:  # a dimension known only when the compiled step runs
        return
    outside = ops.any(ops.logical_and(valid, ops.logical_or(labels < 0, labels >= num_classes)))
    if backend.concrete_int(outside):
        values = backend.to_numpy(labels)
        bad = values[(values != ignore_index) & ((values < 0) | (values >= num_classes))][0]
        raise ValueError(f"labels holds {bad}, but the logits have {num_classes} classes: a label must lie in "
                         f"0..{num_classes - 1} ({ignore_index} marks a position to ignore).")


def sequence_classification_loss(logits, labels, config):
    """Loss by ``config.problem_type``, inferred as HF does when unset."""
    problem_type = config.problem_type
    if problem_type is None:
        if config.num_labels == 1:
            problem_type = "regression"
        elif "int" in str(ops.convert_to_tensor(labels).dtype):
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    logits = ops.cast(logits, "float32")
    if problem_type == "regression":
        labels = ops.cast(labels, "float32")
        if config.num_labels == 1:
            return ops.mean(ops.square(ops.squeeze(logits, -1) - ops.reshape(labels, (-1,))))
        return ops.mean(ops.square(logits - labels))
    if problem_type == "single_label_classification":
        return cross_entropy(logits, labels)
    return binary_cross_entropy_with_logits(logits, labels)  # multi-label


def binary_cross_entropy_with_logits(logits, labels):
    """Mean over every element of sigmoid + binary cross-entropy, as torch's
    ``binary_cross_entropy_with_logits``; ``labels`` may be soft targets in [0, 1]."""
    logits, labels = ops.cast(logits, "float32"), ops.cast(labels, "float32")
    return ops.mean(ops.maximum(logits, 0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits))))


def semantic_segmentation_loss(logits, labels, config):
    """Per-pixel loss as HF's segmentation models compute it, on logits (B, H, W, C) already
    resized to the labels' (B, H, W): cross-entropy ignoring ``config.semantic_loss_ignore_index``,
    or, for one label, binary cross-entropy averaged over every pixel with the ignored ones zeroed."""
    ignore_index = config.semantic_loss_ignore_index
    if config.num_labels > 1:
        return cross_entropy(logits, labels, ignore_index=ignore_index)
    if config.num_labels != 1:
        raise ValueError(f"A segmentation loss needs num_labels >= 1, got {config.num_labels}.")
    logits = ops.cast(logits[..., 0], "float32")
    valid = ops.cast(ops.logical_and(labels >= 0, ops.not_equal(labels, ignore_index)), "float32")
    labels = ops.cast(labels, "float32")
    loss = ops.maximum(logits, 0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.mean(loss * valid)


def span_loss(start_logits, end_logits, start_positions, end_positions):
    """Question answering: mean of start and end cross-entropies; out-of-range positions ignored."""
    length = ops.shape(start_logits)[1]

    def clamp(p):  # HF clamps to [0, length] and ignores index `length`
        p = ops.clip(ops.reshape(ops.cast(p, "int32"), (-1,)), 0, length)
        return ops.where(ops.equal(p, length), IGNORE_INDEX, p)

    return (cross_entropy(start_logits, clamp(start_positions)) + cross_entropy(end_logits, clamp(end_positions))) / 2


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """``torch.nn.functional.ctc_loss`` on every backend, batch first.

    Args:
        log_probs: (B, T, C) log-probabilities (torch takes (T, B, C)).
        targets: (B, L) label ids, each row's first ``target_lengths`` count (the rest is ignored).
        input_lengths, target_lengths: (B,) ints.
        blank: the blank id.
        reduction: "mean" (each loss divided by its target length, then the batch mean), "sum" or "none".
        zero_infinity: infinite losses (an alignment is impossible: the target needs more frames than
            the input has) and their gradients become 0.

    ``keras.ops.ctc_loss`` computes the losses; a target that cannot fit its frames (its length plus
    its repeated neighbours, which need a blank between them, exceeds the input length) is inf as
    torch's, whatever the backend's own answer, and is computed on an empty target so that its
    gradients stay finite.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"ctc_loss reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
    log_probs = ops.cast(log_probs, "float32")
    targets = ops.cast(targets, "int32")
    input_lengths = ops.cast(input_lengths, "int32")
    target_lengths = ops.cast(target_lengths, "int32")
    length = ops.shape(targets)[1]
    in_target = ops.arange(length, dtype="int32")[None, :] < target_lengths[:, None]
    repeats = ops.sum(ops.cast(ops.logical_and(ops.equal(targets[:, 1:], targets[:, :-1]), in_target[:, 1:]), "int32"),
                      axis=-1)
    feasible = input_lengths >= target_lengths + repeats
    targets = ops.where(in_target, targets, blank)
    losses = ops.ctc_loss(targets, log_probs, ops.where(feasible, target_lengths, 0), input_lengths, mask_index=blank)
    ok = ops.logical_and(feasible, ops.isfinite(losses))
    losses = ops.where(ok, losses, 0.0 if zero_infinity else float("inf"))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return ops.sum(losses)
    return ops.mean(losses / ops.cast(ops.maximum(target_lengths, 1), "float32"))
