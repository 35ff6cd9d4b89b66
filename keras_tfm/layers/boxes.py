"""Bounding-box utilities in ``keras.ops`` (DETR's ``box_ops``, as HF transformers computes them).

Boxes are ``(..., 4)`` tensors, either ``(center_x, center_y, width, height)`` ("center") or
``(x0, y0, x1, y1)`` ("corners"). The pairwise functions return ``(N, M)`` matrices for ``N``
and ``M`` boxes; the ``aligned_*`` ones compare box ``i`` with box ``i`` (the diagonal of the
pairwise matrix, without building it).
"""

from keras import ops


def center_to_corners(boxes):
    """``(cx, cy, w, h)`` -> ``(x0, y0, x1, y1)``, as HF's ``center_to_corners_format``."""
    boxes = ops.convert_to_tensor(boxes)
    cx, cy, w, h = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    return ops.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def corners_to_center(boxes):
    """``(x0, y0, x1, y1)`` -> ``(cx, cy, w, h)``, as HF's ``corners_to_center_format``."""
    boxes = ops.convert_to_tensor(boxes)
    x0, y0, x1, y1 = boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]
    return ops.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def box_area(boxes):
    """Areas of corner-format boxes ``(..., 4)`` -> ``(...)``."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _iou_union(boxes1, boxes2):
    # Broadcasting core of box_iou: boxes1 and boxes2 broadcast against each other.
    left_top = ops.maximum(boxes1[..., :2], boxes2[..., :2])
    right_bottom = ops.minimum(boxes1[..., 2:], boxes2[..., 2:])
    width_height = ops.maximum(right_bottom - left_top, 0.0)
    inter = width_height[..., 0] * width_height[..., 1]
    union = box_area(boxes1) + box_area(boxes2) - inter
    return inter / union, union


def _giou(boxes1, boxes2):
    iou, union = _iou_union(boxes1, boxes2)
    top_left = ops.minimum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = ops.maximum(boxes1[..., 2:], boxes2[..., 2:])
    width_height = ops.maximum(bottom_right - top_left, 0.0)
    area = width_height[..., 0] * width_height[..., 1]
    return iou - (area - union) / area


def box_iou(boxes1, boxes2):
    """Pairwise IoU and union of corner boxes ``(N, 4)``, ``(M, 4)`` -> ``((N, M), (N, M))``."""
    boxes1, boxes2 = ops.convert_to_tensor(boxes1), ops.convert_to_tensor(boxes2)
    return _iou_union(boxes1[:, None, :], boxes2[None, :, :])


def generalized_box_iou(boxes1, boxes2):
    """Pairwise generalized IoU (https://giou.stanford.edu/) of corner boxes -> ``(N, M)``.

    Degenerate boxes (``x1 < x0``) give meaningless values; HF raises on them, which a traced
    function cannot: boxes from a sigmoid head (DETR's) are never degenerate.
    """
    boxes1, boxes2 = ops.convert_to_tensor(boxes1), ops.convert_to_tensor(boxes2)
    return _giou(boxes1[:, None, :], boxes2[None, :, :])


def aligned_generalized_box_iou(boxes1, boxes2):
    """Generalized IoU of box ``i`` of ``boxes1`` with box ``i`` of ``boxes2``: ``(N, 4)`` x2 -> ``(N,)``."""
    boxes1, boxes2 = ops.convert_to_tensor(boxes1), ops.convert_to_tensor(boxes2)
    return _giou(boxes1, boxes2)
