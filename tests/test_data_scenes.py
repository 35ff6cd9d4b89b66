"""keras_tfm.data.scenes: the boxes and masks of the drawn pictures agree with their pixels, and DETR's
image processor reads the scenes' COCO annotations."""

import numpy as np
import pytest

from keras_tfm.data.scenes import SCENE_COLOURS, SCENE_LABELS, coco_annotation, shape_scenes


@pytest.fixture(scope="module")
def scenes():
    return shape_scenes(40, size=64, max_objects=2, seed=3)


def test_masks_and_boxes_agree_with_the_pixels(scenes):
    counts = set()
    for scene in scenes:
        pixels, mask = np.asarray(scene["image"]).astype(int), scene["mask"]
        assert scene["image"].size == (64, 64) and mask.shape == (64, 64) and mask.dtype == np.uint8
        background = pixels[mask == 0]
        assert background.min() >= 110 and background.max() < 150  # grey noise only where the mask says so
        covered = np.zeros_like(mask, bool)
        boxes, labels = scene["objects"]["bbox"], scene["objects"]["category"]
        counts.add(len(boxes))
        for (x, y, w, h), label in zip(boxes, labels):
            inside = np.zeros_like(covered)
            inside[y:y + h, x:x + w] = mask[y:y + h, x:x + w] == label + 1
            rows, cols = np.nonzero(inside)
            # the box is the tight box of the shape's pixels, which have the colour of its label
            assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x, y, x + w, y + h)
            assert (pixels[inside] == SCENE_COLOURS[SCENE_LABELS[label]]).all()
            covered |= inside
        assert (covered == (mask > 0)).all()  # no shape pixel outside the boxes
    assert counts == {1, 2}


def test_scenes_are_seeded_and_checked():
    a, b = shape_scenes(3, seed=7), shape_scenes(3, seed=7)
    assert all((np.asarray(x["image"]) == np.asarray(y["image"])).all() and x["objects"] == y["objects"]
               for x, y in zip(a, b))
    assert shape_scenes(1, seed=8)[0]["objects"] != a[0]["objects"]
    with pytest.raises(ValueError, match="size=16"):
        shape_scenes(1, size=16)
    with pytest.raises(ValueError, match="max_objects=4"):
        shape_scenes(1, max_objects=4)


def test_detr_processor_reads_the_coco_annotations(scenes):
    from keras_tfm import DetrImageProcessor

    processor = DetrImageProcessor(size={"height": 32, "width": 32}, do_pad=False)
    labels = processor([s["image"] for s in scenes[:4]],
                       annotations=[coco_annotation(s, i) for i, s in enumerate(scenes[:4])])["labels"]
    for scene, target in zip(scenes, labels):
        expected = np.array([[(x + w / 2) / 64, (y + h / 2) / 64, w / 64, h / 64]
                             for x, y, w, h in scene["objects"]["bbox"]])
        np.testing.assert_allclose(np.asarray(target["boxes"]), expected, atol=1e-6)  # normalized cx, cy, w, h
        assert list(np.asarray(target["class_labels"])) == scene["objects"]["category"]
