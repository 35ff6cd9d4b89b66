"""Pictures of shapes with their boxes and per-pixel masks, drawn on demand: detection and
segmentation data that needs no download.

``shape_scenes(n, size=64, max_objects=2, seed=0)`` draws ``n`` RGB pictures of light grey noise
holding one to ``max_objects`` shapes that do not touch. Each kind of shape has its own colour (a red
square, a blue circle, a yellow triangle: ``SCENE_LABELS``), so that the small models trained on them
in seconds by the quick tour learn both what and where. Each scene is a dict in the layout of the
``datasets`` detection sets (such as cppe-5) plus a semantic mask:

- ``"image"``: the PIL picture;
- ``"objects"``: ``{"bbox": [[x, y, width, height], ...], "category": [label id, ...]}``, COCO boxes in
  pixels, the tight box of each shape's drawn pixels;
- ``"mask"``: a ``(size, size)`` uint8 array, 0 for the background and ``label id + 1`` on each shape.

``coco_annotation(scene, image_id)`` turns a scene into the COCO detection annotation that DETR's image
processor reads (``processor(images, annotations=...)`` -> ``labels`` with ``class_labels`` and
normalized ``boxes``).
"""

import numpy as np

from keras_tfm.data.shapes import place_squares

SCENE_LABELS = ("square", "circle", "triangle")
SCENE_COLOURS = {"square": (220, 30, 30), "circle": (30, 30, 220), "triangle": (230, 220, 30)}
SIDES = (0.25, 0.45)  # the smallest and largest side of a shape, as a fraction of the picture's side


def shape_scenes(n, size=64, max_objects=2, seed=0):
    """``n`` scenes (dicts of ``image``, ``objects``, ``mask``, see the module), seeded by ``seed``."""
    from PIL import Image, ImageDraw

    if size < 32:
        raise ValueError(f"shape_scenes: size={size} is too small to draw shapes apart; use 32 or more.")
    if not 1 <= max_objects <= 3:
        raise ValueError(f"shape_scenes: max_objects={max_objects} must be 1, 2 or 3 (more would not fit).")
    rng = np.random.RandomState(seed)
    scenes = []
    for _ in range(n):
        image = Image.fromarray(rng.randint(110, 150, (size, size, 3)).astype("uint8"))
        draw = ImageDraw.Draw(image)
        mask = np.zeros((size, size), "uint8")
        objects = {"bbox": [], "category": []}
        for box in _places(rng, size, rng.randint(1, max_objects + 1)):
            label = rng.randint(len(SCENE_LABELS))
            shape = SCENE_LABELS[label]
            layer = Image.new("L", (size, size))  # this shape alone: its mask and its tight box
            for target, fill in ((draw, SCENE_COLOURS[shape]), (ImageDraw.Draw(layer), 255)):
                _draw(target, shape, box, fill)
            pixels = np.asarray(layer) > 0
            mask[pixels] = label + 1
            rows, cols = np.nonzero(pixels)
            objects["bbox"].append([int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
                                    int(rows.max() - rows.min() + 1)])
            objects["category"].append(int(label))
        scenes.append({"image": image, "objects": objects, "mask": mask})
    return scenes


def coco_annotation(scene, image_id=0):
    """A scene's objects as a COCO detection annotation (the input of ``DetrImageProcessor``)."""
    return {"image_id": image_id, "annotations": [
        {"bbox": list(box), "category_id": label, "area": float(box[2] * box[3]), "iscrowd": 0}
        for box, label in zip(scene["objects"]["bbox"], scene["objects"]["category"])]}


def _draw(draw, shape, box, fill):
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])], fill=fill)


def _places(rng, size, count):
    """``count`` square places (left, top, right, bottom) of random sides, two pixels apart at least."""
    low, high = int(size * SIDES[0]), int(size * SIDES[1])
    return place_squares(rng, lambda: rng.randint(low, high + 1), size, count, gap=2)
