"""DETR's Hungarian-matching loss, as HF transformers computes it (``transformers/loss/loss_for_object_detection.py``).

Each image's targets are matched one-to-one to the queries by scipy's ``linear_sum_assignment``
on HF's cost (class probability, L1 and GIoU of the boxes); matched queries learn their
target's class, box and mask, the others the "no object" class. The matching runs on the host
from concrete values (``backend.numpy_function``: directly on eager torch and TF, a
``jax.pure_callback`` under ``jax.jit``, a ``tf.numpy_function`` under ``tf.function``), so the
loss trains in eager and compiled steps alike; everything else is ``keras.ops`` and
differentiable. The box and class tensors of the matched pairs are gathered with the indices
the host returns: the loss then has HF's terms, in HF's order of summation.

Shapes: a compiled step is traced per shape of the labels. ``tf.function`` (reduce_retracing)
relaxes them to unknown sizes, which the loss handles; ``jax.jit`` compiles each new set of
target counts anew, unless the targets are padded to one count (class label -1: ignored).

Not reproduced: HF divides the box count by the accelerate world size for multi-process
training; here it is the count of the local batch.
"""

import numpy as np
from keras import ops

from keras_tfm import backend
from keras_tfm.layers.boxes import aligned_generalized_box_iou, center_to_corners, generalized_box_iou

__all__ = ["detr_loss", "hungarian_match", "sigmoid_focal_loss", "dice_loss"]


def _weighted_sum(values, weights):
    return ops.sum(values) if weights is None else ops.sum(values * weights)


def sigmoid_focal_loss(inputs, targets, num_boxes, alpha=0.25, gamma=2, weights=None):
    """RetinaNet's focal loss on mask logits ``(M, P)`` vs binary ``targets`` ``(M, P)``, summed / ``num_boxes``.

    ``weights`` (M,): optional per-mask weights (0 drops a padding pair).
    """
    prob = ops.sigmoid(inputs)
    # binary cross-entropy with logits, in its stable form
    ce_loss = ops.maximum(inputs, 0.0) - inputs * targets + ops.log1p(ops.exp(-ops.abs(inputs)))
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _weighted_sum(ops.mean(loss, axis=1), weights) / num_boxes


def dice_loss(inputs, targets, num_boxes, weights=None):
    """DICE loss (a generalized IoU for masks) of mask logits ``(M, P)`` vs ``targets``, summed / ``num_boxes``."""
    inputs = ops.sigmoid(inputs)
    numerator = 2 * ops.sum(inputs * targets, axis=1)
    denominator = ops.sum(inputs, axis=-1) + ops.sum(targets, axis=-1)
    return _weighted_sum(1 - (numerator + 1) / (denominator + 1), weights) / num_boxes


def _targets(labels, batch_size, with_masks):
    """Checks ``labels`` and returns per-image class labels (n,), boxes (n, 4) and masks (n, H, W) tensors."""
    if not isinstance(labels, (list, tuple)):
        raise TypeError(f"DETR labels must be a list of dicts (one per image), got {type(labels).__name__}.")
    if batch_size is not None and len(labels) != batch_size:
        raise ValueError(f"DETR labels hold {len(labels)} images but the batch has {batch_size}.")
    keys = ("class_labels", "boxes") + (("masks",) if with_masks else ())
    classes, boxes, masks = [], [], []
    for i, target in enumerate(labels):
        missing = [k for k in keys if k not in target]
        if missing:
            raise ValueError(f"DETR labels[{i}] lacks {missing}; it needs {list(keys)}.")
        c = ops.cast(ops.convert_to_tensor(target["class_labels"]), "int32")
        b = ops.cast(ops.convert_to_tensor(target["boxes"]), "float32")
        if len(c.shape) != 1 or len(b.shape) != 2 or b.shape[1] != 4:
            raise ValueError(
                f"DETR labels[{i}]: class_labels must be (n,) and boxes (n, 4) (cx, cy, w, h), "
                f"got {tuple(c.shape)} and {tuple(b.shape)}."
            )
        if None not in (c.shape[0], b.shape[0]) and c.shape[0] != b.shape[0]:
            raise ValueError(f"DETR labels[{i}]: {c.shape[0]} class_labels but {b.shape[0]} boxes.")
        classes.append(c)
        boxes.append(b)
        if with_masks:
            m = ops.cast(ops.convert_to_tensor(target["masks"]), "float32")
            if len(m.shape) != 3:
                raise ValueError(f"DETR labels[{i}]: masks must be (n, height, width), got {tuple(m.shape)}.")
            masks.append(m)
    return classes, boxes, masks


def _assign(cost, sizes, valid):
    """Host side of the matching: ``cost`` (B, Q, N) float32, ``sizes`` (B,) targets per image (padding
    included), ``valid`` (N,) whether each target is real (padding has a negative class label).

    Returns ``match`` (B*Q,): each query's index in the concatenated targets, or N when it has
    none; ``source`` and ``target`` (P,): the matched pairs (flat query index, target index),
    image after image in scipy's order as HF concatenates them, then padding pairs (0, 0) up to
    ``P = sum(min(Q, size))``, a length known from the shapes alone; ``weight`` (P,): 1 for a
    matched pair, 0 for padding.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as e:  # an optional dependency: only training DETR needs it
        raise ImportError("DETR's loss matches targets with scipy's linear_sum_assignment: "
                          "pip install scipy (or keras_tfm[vision]).") from e
    batch_size, num_queries, total = cost.shape
    # HF: NaN / inf costs become the largest float, matched only when nothing else is left.
    big = np.finfo(cost.dtype).max
    cost = np.nan_to_num(cost, nan=big, posinf=big, neginf=big)
    match = np.full((batch_size * num_queries,), total, dtype=np.int32)
    sources, targets, offset, length = [], [], 0, 0
    for b, n in enumerate(np.asarray(sizes).tolist()):
        columns = offset + np.flatnonzero(valid[offset:offset + n])
        rows, cols = linear_sum_assignment(cost[b][:, columns])
        sources.append(b * num_queries + rows)
        targets.append(columns[cols])
        match[b * num_queries + rows] = columns[cols]
        offset += n
        length += min(num_queries, n)
    source = np.zeros(length, np.int32)
    target = np.zeros(length, np.int32)
    weight = np.zeros(length, np.float32)
    pairs = sum(len(r) for r in sources)
    source[:pairs] = np.concatenate(sources)
    target[:pairs] = np.concatenate(targets)
    weight[:pairs] = 1.0
    return match, source, target, weight


def hungarian_match(logits, pred_boxes, class_labels, boxes, config):
    """HF's ``HungarianMatcher``: the cost on the device, scipy's assignment on the host.

    ``logits`` (B, Q, C + 1), ``pred_boxes`` (B, Q, 4), ``class_labels`` / ``boxes``: per-image
    lists (a negative class label marks a padding target, never matched). Returns
    ``(match, source, target, weight)`` as ``_assign`` describes (int32, weight float32).
    """
    if config.class_cost == 0 and config.bbox_cost == 0 and config.giou_cost == 0:
        raise ValueError("All costs of the Matcher can't be 0 (config.class_cost, bbox_cost, giou_cost).")
    batch_size, num_queries = logits.shape[0], logits.shape[1]
    prob = ops.softmax(ops.reshape(logits, (-1, ops.shape(logits)[-1])), axis=-1)  # (B*Q, C + 1)
    out_bbox = ops.reshape(pred_boxes, (-1, 4))
    target_ids = ops.concatenate(class_labels, axis=0)
    target_bbox = ops.concatenate(boxes, axis=0)
    class_cost = -ops.take(prob, ops.maximum(target_ids, 0), axis=1)  # 1 - p[target class], less the constant
    bbox_cost = ops.sum(ops.abs(out_bbox[:, None, :] - target_bbox[None, :, :]), axis=-1)  # cdist p=1
    giou_cost = -generalized_box_iou(center_to_corners(out_bbox), center_to_corners(target_bbox))
    cost = config.bbox_cost * bbox_cost + config.class_cost * class_cost + config.giou_cost * giou_cost
    cost = ops.stop_gradient(ops.reshape(cost, (ops.shape(logits)[0], ops.shape(logits)[1], -1)))
    sizes = ops.stack([ops.cast(ops.shape(b)[0], "int32") for b in boxes])
    static_sizes = [b.shape[0] for b in boxes]
    pairs = None
    if num_queries is not None and None not in static_sizes:
        pairs = sum(min(num_queries, n) for n in static_sizes)
    rows = None if batch_size is None or num_queries is None else batch_size * num_queries
    return backend.numpy_function(
        _assign, [cost, sizes, ops.greater_equal(target_ids, 0)],
        [((rows,), "int32"), ((pairs,), "int32"), ((pairs,), "int32"), ((pairs,), "float32")])


def _interpolation_matrix(size_out, size_in):
    """(size_out, size_in) weights of torch's linear interpolation with ``align_corners=False`` (no antialias)."""
    scale = ops.cast(size_in, "float32") / ops.cast(size_out, "float32")
    source = ops.maximum((ops.cast(ops.arange(size_out), "float32") + 0.5) * scale - 0.5, 0.0)
    low = ops.floor(source)
    frac = source - low
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, size_in - 1)
    return (ops.one_hot(low, size_in) * (1.0 - frac)[:, None]
            + ops.one_hot(high, size_in) * frac[:, None])


def _upsample(masks, size):
    """(M, h, w) -> (M, H, W) bilinear as torch's ``interpolate(align_corners=False)``.

    Written as two interpolation matrices so that ``size`` may be known only at run time
    (``ops.image.resize`` needs it static).
    """
    rows = _interpolation_matrix(size[0], ops.shape(masks)[1])  # (H, h)
    cols = _interpolation_matrix(size[1], ops.shape(masks)[2])  # (W, w)
    return ops.einsum("Hh,mhw,Ww->mHW", rows, masks, cols)


def _padded_target_masks(masks):
    """Per-image (n, H, W) masks zero-padded to the batch's largest H and W and concatenated, as HF's NestedTensor."""
    size = []
    for axis in (1, 2):
        static = [m.shape[axis] for m in masks]
        # a traced batch of unknown mask sizes (tf.function relaxing shapes) pads to a runtime size
        size.append(max(static) if None not in static else ops.max(ops.stack([ops.shape(m)[axis] for m in masks])))
    padded = [ops.pad(m, [[0, 0], [0, size[0] - ops.shape(m)[1]], [0, size[1] - ops.shape(m)[2]]]) for m in masks]
    return ops.concatenate(padded, axis=0), tuple(size)


def _image_losses(logits, pred_boxes, targets, num_boxes, config, pred_masks=None):
    """HF's ImageLoss terms for one decoder output: loss_ce, loss_bbox, loss_giou, cardinality_error (+ masks)."""
    classes, boxes, masks, counts = targets
    logits = ops.cast(logits, "float32")
    pred_boxes = ops.cast(pred_boxes, "float32")
    num_labels = config.num_labels
    match, source, target, weight = hungarian_match(logits, pred_boxes, classes, boxes, config)
    flat_logits = ops.reshape(logits, (-1, ops.shape(logits)[-1]))  # (B*Q, C + 1)
    flat_boxes = ops.reshape(pred_boxes, (-1, 4))
    losses = {}

    # labels: cross-entropy, the "no object" class weighted by eos_coefficient
    no_object = ops.convert_to_tensor(np.array([num_labels], dtype=np.int32))
    target_classes = ops.take(ops.concatenate(classes + [no_object], axis=0), match)  # (B*Q,)
    class_weight = ops.convert_to_tensor(
        np.array([1.0] * num_labels + [config.eos_coefficient], dtype=np.float32))
    class_weights = ops.take(class_weight, target_classes)
    log_probs = ops.log_softmax(flat_logits, axis=-1)
    nll = -ops.take_along_axis(log_probs, target_classes[:, None], axis=-1)[:, 0]
    losses["loss_ce"] = ops.sum(class_weights * nll) / ops.sum(class_weights)

    # boxes: L1 and GIoU of the matched pairs; a padding pair compares a box with itself, weighted 0
    source_boxes = ops.take(flat_boxes, source, axis=0)
    target_boxes = ops.take(ops.concatenate(boxes, axis=0), target, axis=0)
    target_boxes = ops.where(weight[:, None] > 0, target_boxes, ops.stop_gradient(source_boxes))
    losses["loss_bbox"] = ops.sum(ops.abs(source_boxes - target_boxes) * weight[:, None]) / num_boxes
    giou = aligned_generalized_box_iou(center_to_corners(source_boxes), center_to_corners(target_boxes))
    losses["loss_giou"] = ops.sum((1 - giou) * weight) / num_boxes

    # cardinality (logged, not trained): |predicted objects - targets| averaged over images
    predicted = ops.sum(ops.cast(ops.not_equal(ops.argmax(logits, axis=-1), num_labels), "float32"), axis=1)
    losses["cardinality_error"] = ops.stop_gradient(ops.mean(ops.abs(predicted - ops.cast(counts, "float32"))))

    if pred_masks is not None:
        target_masks, size = _padded_target_masks(masks)
        pred_masks = ops.cast(pred_masks, "float32")
        source_masks = ops.take(ops.reshape(pred_masks, (-1,) + tuple(pred_masks.shape[2:])), source, axis=0)
        source_masks = ops.reshape(_upsample(source_masks, size), (-1, size[0] * size[1]))
        target_masks = ops.reshape(ops.take(target_masks, target, axis=0), (-1, size[0] * size[1]))
        losses["loss_mask"] = sigmoid_focal_loss(source_masks, target_masks, num_boxes, weights=weight)
        losses["loss_dice"] = dice_loss(source_masks, target_masks, num_boxes, weights=weight)
    return losses


def detr_loss(logits, pred_boxes, labels, config, pred_masks=None, auxiliary_outputs=None):
    """DETR's loss as HF's ``ForObjectDetectionLoss`` / ``ForSegmentationLoss`` computes it.

    Args:
        logits: ``(batch, num_queries, num_labels + 1)`` class logits (the last class is "no object").
        pred_boxes: ``(batch, num_queries, 4)`` normalized ``(center_x, center_y, width, height)``.
        labels: one dict per image: ``class_labels`` ``(n,)``, ``boxes`` ``(n, 4)`` (normalized
            cx, cy, w, h) and, with ``pred_masks``, ``masks`` ``(n, height, width)``; ``n`` may be 0.
            Targets whose class label is negative are padding, ignored: padding every image to
            one count keeps the shapes of a compiled step fixed (JAX compiles a step once per
            shape).
        config: a DETR config (``class_cost``, ``bbox_cost``, ``giou_cost``, ``eos_coefficient``,
            ``bbox_loss_coefficient``, ``giou_loss_coefficient``, ``mask_loss_coefficient``,
            ``dice_loss_coefficient``, ``auxiliary_loss``, ``decoder_layers``, ``num_labels``).
        pred_masks: ``(batch, num_queries, h, w)`` mask logits (DetrForSegmentation): adds
            ``loss_mask`` (sigmoid focal) and ``loss_dice``, the logits upsampled bilinearly to
            the targets' (padded) size.
        auxiliary_outputs: the intermediate decoder layers' ``[{"logits", "pred_boxes"}, ...]``,
            used as HF does when ``config.auxiliary_loss``: each matched anew, its losses
            suffixed ``_0``, ``_1``... (no mask losses).

    Returns:
        ``(loss, loss_dict)``: the weighted sum (``loss_ce`` weight 1, the ``*_coefficient``
        weights for the others, ``cardinality_error`` unweighted) and every term.
    """
    with_masks = pred_masks is not None
    classes, boxes, masks = _targets(labels, logits.shape[0], with_masks)
    counts = ops.stack([ops.sum(ops.cast(ops.greater_equal(c, 0), "int32")) for c in classes])  # real targets
    num_boxes = ops.maximum(ops.cast(ops.sum(counts), "float32"), 1.0)  # HF: clamp(min=1)
    targets = (classes, boxes, masks, counts)

    loss_dict = _image_losses(logits, pred_boxes, targets, num_boxes, config, pred_masks)
    weight_dict = {"loss_ce": 1.0, "loss_bbox": config.bbox_loss_coefficient,
                   "loss_giou": config.giou_loss_coefficient}
    if with_masks:
        weight_dict.update(loss_mask=config.mask_loss_coefficient, loss_dice=config.dice_loss_coefficient)
    if auxiliary_outputs and config.auxiliary_loss:
        for i, aux in enumerate(auxiliary_outputs):
            aux_losses = _image_losses(aux["logits"], aux["pred_boxes"], targets, num_boxes, config)
            loss_dict.update({f"{k}_{i}": v for k, v in aux_losses.items()})
        base = dict(weight_dict)
        for i in range(getattr(config, "decoder_layers", len(auxiliary_outputs) + 1) - 1):
            weight_dict.update({f"{k}_{i}": v for k, v in base.items()})
    loss = sum(loss_dict[k] * weight_dict[k] for k in loss_dict if k in weight_dict)
    return loss, loss_dict
