"""DETR's Hungarian-matching loss (models/detr/loss_detr.py) and the box kit (layers/boxes.py) against
HF transformers' loss_for_object_detection (torch) on the same random predictions and targets: the
matching, every loss_dict entry, the total, the gradients; and a compiled train step (jax.jit,
tf.function, eager torch) over batches of changing target counts."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest
import torch
from keras import ops
from transformers.image_transforms import center_to_corners_format, corners_to_center_format
from transformers.loss import loss_for_object_detection as hf

from keras_tfm.backend.training import RETURN_TENSORS, make_train_step
from keras_tfm.layers import boxes as box_kit
from keras_tfm.models.detr.loss_detr import _upsample, detr_loss, hungarian_match

NUM_LABELS, QUERIES, LAYERS = 4, 6, 3
# Coefficients all different from each other (and from HF's defaults) so that a swapped one shows.
CONFIG = dict(num_labels=NUM_LABELS, class_cost=1.5, bbox_cost=4.0, giou_cost=2.5, eos_coefficient=0.2,
              bbox_loss_coefficient=5.0, giou_loss_coefficient=3.0, mask_loss_coefficient=1.7,
              dice_loss_coefficient=0.6, decoder_layers=LAYERS)
ATOL = 1e-4
# Targets per image, shared by the tests (eager JAX compiles each op once per shape): an image
# without targets and one with more targets than queries.
SIZES = [2, 0, QUERIES + 1]


def config(auxiliary_loss=True):
    return SimpleNamespace(auxiliary_loss=auxiliary_loss, **CONFIG)


def random_boxes(rng, shape):
    """Normalized (cx, cy, w, h) boxes inside the image."""
    centers = rng.uniform(0.2, 0.8, shape[:-1] + (2,))
    sizes = rng.uniform(0.05, 0.4, shape[:-1] + (2,))
    return np.concatenate([centers, sizes], -1).astype("float32")


def random_targets(rng, sizes, mask_sizes=None):
    """One target dict per image; ``sizes``: targets per image (0 and more than QUERIES included)."""
    targets = []
    for i, n in enumerate(sizes):
        target = {"class_labels": rng.integers(0, NUM_LABELS, (n,)), "boxes": random_boxes(rng, (n, 4))}
        if mask_sizes is not None:
            target["masks"] = (rng.uniform(size=(n,) + mask_sizes[i]) > 0.5).astype("float32")
        targets.append(target)
    return targets


def random_outputs(rng, batch, mask_size=None):
    """Every decoder layer's logits and sigmoid boxes (the last is the model's output), and mask logits."""
    logits = rng.normal(size=(LAYERS, batch, QUERIES, NUM_LABELS + 1)).astype("float32")
    boxes = (1 / (1 + np.exp(-rng.normal(size=(LAYERS, batch, QUERIES, 4))))).astype("float32")
    masks = None if mask_size is None else rng.normal(size=(batch, QUERIES) + mask_size).astype("float32")
    return logits, boxes, masks


def padded(targets, count, rng):
    """Targets padded to ``count`` per image with random padding targets of class -1 (to be ignored)."""
    out = []
    for target in targets:
        extra = random_targets(rng, [count - len(target["boxes"])],
                               None if "masks" not in target else [target["masks"].shape[1:]])[0]
        extra["class_labels"][:] = -1
        out.append({k: np.concatenate([v, extra[k]]) for k, v in target.items()})
    return out


def hf_loss(logits, boxes, targets, cfg, masks=None):
    labels = [{k: torch.tensor(v) for k, v in t.items()} for t in targets]
    t = torch.tensor
    if masks is None:  # HF takes every decoder layer's outputs, the last one being the model's
        loss, loss_dict, _ = hf.ForObjectDetectionLoss(
            t(logits[-1]), labels, "cpu", t(boxes[-1]), cfg, t(logits), t(boxes))
    else:
        loss, loss_dict, _ = hf.ForSegmentationLoss(
            t(logits[-1]), labels, "cpu", t(boxes[-1]), t(masks), cfg, t(logits), t(boxes))
    return float(loss), {k: float(v) for k, v in loss_dict.items()}


def our_loss(logits, boxes, targets, cfg, masks=None):
    aux = [{"logits": ops.convert_to_tensor(logits[i]), "pred_boxes": ops.convert_to_tensor(boxes[i])}
           for i in range(LAYERS - 1)]
    loss, loss_dict = detr_loss(ops.convert_to_tensor(logits[-1]), ops.convert_to_tensor(boxes[-1]), targets, cfg,
                                pred_masks=None if masks is None else ops.convert_to_tensor(masks),
                                auxiliary_outputs=aux)
    return float(ops.convert_to_numpy(loss)), {k: float(ops.convert_to_numpy(v)) for k, v in loss_dict.items()}


def assert_same_losses(ours, theirs):
    (loss, loss_dict), (ref, ref_dict) = ours, theirs
    assert list(loss_dict) == list(ref_dict)
    for key in ref_dict:
        assert abs(loss_dict[key] - ref_dict[key]) <= ATOL, (key, loss_dict[key], ref_dict[key])
    assert abs(loss - ref) <= ATOL, (loss, ref)


def test_box_utilities_match_hf():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, (5, 4)), random_boxes(rng, (7, 4))
    ca, cb = center_to_corners_format(a), center_to_corners_format(b)
    np.testing.assert_allclose(ops.convert_to_numpy(box_kit.center_to_corners(a)), ca, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(box_kit.corners_to_center(ca)), corners_to_center_format(ca),
                               atol=1e-6)
    iou, union = hf.box_iou(torch.tensor(ca), torch.tensor(cb))
    ours_iou, ours_union = box_kit.box_iou(ca, cb)
    np.testing.assert_allclose(ops.convert_to_numpy(ours_iou), iou.numpy(), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(ours_union), union.numpy(), atol=1e-6)
    giou = hf.generalized_box_iou(torch.tensor(ca), torch.tensor(cb)).numpy()
    np.testing.assert_allclose(ops.convert_to_numpy(box_kit.generalized_box_iou(ca, cb)), giou, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(box_kit.aligned_generalized_box_iou(ca, cb[:5])),
                               np.diag(giou[:, :5]), atol=1e-6)
    assert giou.min() < 0 < giou.max()  # disjoint and overlapping pairs both tested


def test_matching_is_hf_matching():
    rng = np.random.default_rng(1)
    sizes = SIZES
    logits, boxes, _ = random_outputs(rng, len(sizes))
    targets = random_targets(rng, sizes)
    cfg = config()
    ref = hf.HungarianMatcher(cfg.class_cost, cfg.bbox_cost, cfg.giou_cost)(
        {"logits": torch.tensor(logits[-1]), "pred_boxes": torch.tensor(boxes[-1])},
        [{k: torch.tensor(v) for k, v in t.items()} for t in targets])
    classes = [ops.convert_to_tensor(t["class_labels"].astype("int32")) for t in targets]
    match, source, target, weight = hungarian_match(ops.convert_to_tensor(logits[-1]), ops.convert_to_tensor(boxes[-1]),
                                            classes, [ops.convert_to_tensor(t["boxes"]) for t in targets], cfg)
    offsets = np.cumsum([0] + sizes)
    expected_source = np.concatenate([b * QUERIES + i.numpy() for b, (i, _) in enumerate(ref)])
    expected_target = np.concatenate([offsets[b] + j.numpy() for b, (_, j) in enumerate(ref)])
    np.testing.assert_array_equal(ops.convert_to_numpy(source), expected_source)
    np.testing.assert_array_equal(ops.convert_to_numpy(target), expected_target)
    expected_match = np.full(len(sizes) * QUERIES, sum(sizes))
    expected_match[expected_source] = expected_target
    np.testing.assert_array_equal(ops.convert_to_numpy(match), expected_match)
    np.testing.assert_array_equal(ops.convert_to_numpy(weight), np.ones(len(expected_source)))


@pytest.mark.parametrize("auxiliary_loss", [True, False])
def test_detection_loss_matches_hf(auxiliary_loss):
    rng = np.random.default_rng(2)
    sizes = SIZES
    logits, boxes, _ = random_outputs(rng, len(sizes))
    targets = random_targets(rng, sizes)
    cfg = config(auxiliary_loss)
    ours = our_loss(logits, boxes, targets, cfg)
    assert_same_losses(ours, hf_loss(logits, boxes, targets, cfg))
    assert ("loss_ce_1" in ours[1]) == auxiliary_loss


@pytest.mark.parametrize("mask_size", [(8, 10), (24, 20)])  # upsampled to the targets / downsampled
def test_segmentation_loss_matches_hf(mask_size):
    rng = np.random.default_rng(3)
    sizes = SIZES
    logits, boxes, masks = random_outputs(rng, len(sizes), mask_size)
    targets = random_targets(rng, sizes, [(16, 20), (12, 24), (18, 14)])  # padded to 18 x 24 as HF's NestedTensor
    cfg = config()
    ours = our_loss(logits, boxes, targets, cfg, masks)
    assert_same_losses(ours, hf_loss(logits, boxes, targets, cfg, masks))
    assert ours[1]["loss_mask"] > 0 and ours[1]["loss_dice"] > 0


def test_padding_targets_are_ignored():
    rng = np.random.default_rng(8)
    logits, boxes, masks = random_outputs(rng, len(SIZES), (8, 10))
    targets = random_targets(rng, SIZES, [(16, 20), (12, 24), (18, 14)])
    cfg = config()
    assert_same_losses(our_loss(logits, boxes, padded(targets, 9, rng), cfg, masks),
                       hf_loss(logits, boxes, targets, cfg, masks))


def test_no_targets_matches_hf():
    rng = np.random.default_rng(4)
    logits, boxes, masks = random_outputs(rng, 3, (8, 10))
    targets = random_targets(rng, [0, 0, 0], [(16, 20), (12, 24), (18, 14)])
    cfg = config()
    assert_same_losses(our_loss(logits, boxes, targets, cfg, masks), hf_loss(logits, boxes, targets, cfg, masks))


@pytest.mark.parametrize("size", [(13, 17), (3, 5)])  # up, down
def test_upsample_is_torch_bilinear(size):
    x = np.random.default_rng(5).normal(size=(3, 6, 6)).astype("float32")
    expected = torch.nn.functional.interpolate(torch.tensor(x)[:, None], size=size, mode="bilinear",
                                               align_corners=False)[:, 0].numpy()
    np.testing.assert_allclose(ops.convert_to_numpy(_upsample(ops.convert_to_tensor(x), size)), expected, atol=1e-5)


class Predictions(keras.Model):
    """The predictions themselves as weights: one SGD step of rate 1 leaves ``weights - gradient``."""

    def __init__(self, logits, boxes, masks):
        super().__init__()
        self.logits = self.add_weight(shape=logits.shape, initializer=keras.initializers.Constant(logits))
        self.boxes = self.add_weight(shape=boxes.shape, initializer=keras.initializers.Constant(boxes))
        self.masks = self.add_weight(shape=masks.shape, initializer=keras.initializers.Constant(masks))

    def detr_loss(self, labels, cfg):
        aux = [{"logits": self.logits[i], "pred_boxes": self.boxes[i]} for i in range(LAYERS - 1)]
        return detr_loss(self.logits[-1], self.boxes[-1], labels, cfg, pred_masks=self.masks,
                         auxiliary_outputs=aux)[0]


def test_compiled_train_step_gradients_match_hf():
    """Gradients through the backend's train step (jax.jit / tf.function / eager torch) equal torch autograd
    through HF's loss, for batches whose target counts and mask sizes change from step to step, and
    with padding targets."""
    rng = np.random.default_rng(6)
    cfg = config()
    logits, boxes, masks = random_outputs(rng, 2, (6, 6))
    model = Predictions(logits, boxes, masks)
    step = make_train_step(model, keras.optimizers.SGD(learning_rate=1.0), lambda labels: model.detr_loss(labels, cfg))
    # The second batch's new shapes retrace: tf.function then relaxes them to unknown sizes.
    for sizes, mask_size, pad in [([2, 3], (12, 12), None), ([1, 0], (4, 5), 3)]:
        targets = random_targets(rng, sizes, [mask_size] * 2)
        before = random_outputs(rng, 2, (6, 6))  # fresh predictions (a step of rate 1 throws boxes far off)
        for w, value in zip((model.logits, model.boxes, model.masks), before):
            w.assign(value)
        inputs = [torch.tensor(w, requires_grad=True) for w in before]
        labels = [{k: torch.tensor(v) for k, v in t.items()} for t in targets]
        ref, _, _ = hf.ForSegmentationLoss(inputs[0][-1], labels, "cpu", inputs[1][-1], inputs[2], cfg,
                                           inputs[0], inputs[1])
        ref.backward()
        loss = float(ops.convert_to_numpy(step(targets if pad is None else padded(targets, pad, rng))))
        assert abs(loss - ref.item()) <= ATOL, (sizes, loss, ref.item())
        for w, old, ref_input in zip((model.logits, model.boxes, model.masks), before, inputs):
            grad = old - ops.convert_to_numpy(w)
            assert np.isfinite(grad).all()
            np.testing.assert_allclose(grad, ref_input.grad.numpy(), atol=1e-5)


def test_bad_labels_name_the_culprit():
    rng = np.random.default_rng(7)
    all_logits, all_boxes, masks = random_outputs(rng, 2, (4, 4))
    logits, boxes = all_logits[-1], all_boxes[-1]
    good = random_targets(rng, [1, 2], [(8, 8)] * 2)
    cfg = config(False)
    with pytest.raises(TypeError, match="list of dicts"):
        detr_loss(logits, boxes, good[0], cfg)
    with pytest.raises(ValueError, match="hold 1 images but the batch has 2"):
        detr_loss(logits, boxes, good[:1], cfg)
    with pytest.raises(ValueError, match=r"labels\[1\] lacks \['masks'\]"):
        detr_loss(logits, boxes, [good[0], {"class_labels": [1], "boxes": [[0.5] * 4]}], cfg, pred_masks=masks)
    with pytest.raises(ValueError, match=r"labels\[0\]: class_labels must be \(n,\) and boxes \(n, 4\)"):
        detr_loss(logits, boxes, [{"class_labels": [1], "boxes": [0.5] * 4}, good[1]], cfg)
    with pytest.raises(ValueError, match=r"labels\[1\]: 3 class_labels but 2 boxes"):
        detr_loss(logits, boxes, [good[0], {"class_labels": [1, 2, 3], "boxes": good[1]["boxes"]}], cfg)


def test_labels_of_the_detr_image_processor():
    """The ``labels`` our DetrImageProcessor makes from COCO annotations (backend tensors) feed the loss."""
    from keras_tfm.processing.image_processing_detr import DetrImageProcessor

    rng = np.random.default_rng(9)
    images = [rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), rng.integers(0, 255, (36, 24, 3), dtype=np.uint8)]
    annotations = [
        {"image_id": 1, "annotations": [{"bbox": [2, 3, 10, 12], "category_id": 1, "area": 120, "iscrowd": 0},
                                        {"bbox": [20, 5, 15, 20], "category_id": 3, "area": 300, "iscrowd": 0}]},
        {"image_id": 2, "annotations": []},
    ]
    processor = DetrImageProcessor(size={"height": 32, "width": 32})
    labels = processor(images, annotations=annotations, return_tensors=RETURN_TENSORS)["labels"]
    logits, boxes, _ = random_outputs(rng, 2)
    cfg = config()
    reference = [{"class_labels": ops.convert_to_numpy(t["class_labels"]).astype("int64"),  # int32 on jax
                  "boxes": ops.convert_to_numpy(t["boxes"])} for t in labels]
    assert [len(t["boxes"]) for t in reference] == [2, 0]
    assert_same_losses(our_loss(logits, boxes, labels, cfg), hf_loss(logits, boxes, reference, cfg))
