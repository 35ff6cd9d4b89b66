"""ViT / ConvNeXT (ResNet) / DETR / SegFormer image processors against transformers' PIL ones.

The images are drawn here with Pillow and written to tmp_path: odd sizes, portrait and landscape,
modes RGB, L, RGBA, P (with and without transparency), 16-bit PNG ("I;16"), a JPEG with EXIF orientation 6, plus float and uint8
arrays. Both sides get the same inputs, as files (through ``load_image``) and as PIL images;
``pixel_values``, ``pixel_mask`` and ``labels`` must agree within 1e-5 (they are in fact equal).
"""

import json
import os
import re

import keras
import numpy as np
import pytest
import transformers
from PIL import Image

from keras_tfm import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    ConvNextImageProcessor,
    DetrImageProcessor,
    SegformerImageProcessor,
    ViTImageProcessor,
)

FRAMEWORK = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[keras.backend.backend()]
ATOL = 1e-5
# Processors are numpy + Pillow, the same under every backend: their parity runs once (torch's run);
# tensors in and out (return_tensors) and bad input run on every backend.
once = pytest.mark.skipif(keras.backend.backend() != "torch", reason="backend-independent: runs under torch")

# (ours, HF's PIL processor, a non-default config of small sizes)
PROCESSORS = {
    "vit": (ViTImageProcessor, transformers.ViTImageProcessorPil,
            {"size": {"height": 30, "width": 22}, "resample": 3, "image_mean": [0.4, 0.5, 0.6]}),
    "convnext": (ConvNextImageProcessor, transformers.ConvNextImageProcessorPil,
                 {"size": {"shortest_edge": 24}, "crop_pct": 0.8, "resample": 2}),
    "convnext_warp": (ConvNextImageProcessor, transformers.ConvNextImageProcessorPil,
                      {"size": {"shortest_edge": 400}, "do_normalize": False}),
    "detr": (DetrImageProcessor, transformers.DetrImageProcessorPil,
             {"size": {"shortest_edge": 40, "longest_edge": 56}, "resample": 3}),
    "detr_max_hw": (DetrImageProcessor, transformers.DetrImageProcessorPil,
                    {"size": {"max_height": 36, "max_width": 44}, "pad_size": {"height": 48, "width": 48}}),
    "segformer": (SegformerImageProcessor, transformers.SegformerImageProcessorPil,
                  {"size": {"height": 27, "width": 35}, "resample": 0, "do_rescale": False}),
}


def smooth(rng, height, width, channels=3):
    """A smooth random uint8 picture (H, W, C): upsampled noise, as photos have gradients."""
    coarse = rng.integers(0, 256, (height // 6 + 2, width // 6 + 2, channels), dtype=np.uint8)
    layers = [np.asarray(Image.fromarray(coarse[..., c]).resize((width, height), Image.BILINEAR))
              for c in range(channels)]
    return np.stack(layers, -1)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """name -> file path of each test picture."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    made = {
        "rgb_landscape": Image.fromarray(smooth(rng, 43, 61)),
        "rgb_portrait": Image.fromarray(smooth(rng, 47, 29)),
        "gray": Image.fromarray(smooth(rng, 33, 38, 1)[..., 0]),  # mode L
        "rgba": Image.fromarray(smooth(rng, 31, 45, 4)),
        "palette": Image.fromarray(smooth(rng, 39, 27)).quantize(colors=12),  # mode P
        "gray16": Image.fromarray(smooth(rng, 25, 35, 1)[..., 0].astype(np.uint16) * 257),  # mode I;16
    }
    paths = {}
    for name, image in made.items():
        paths[name] = str(folder / f"{name}.png")
        image.save(paths[name])
    paths["palette_transparent"] = str(folder / "palette_transparent.png")
    made["palette"].save(paths["palette_transparent"], transparency=3)  # palette entry 3 is see-through
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to stand upright
    paths["exif_jpeg"] = str(folder / "exif.jpg")
    Image.fromarray(smooth(rng, 24, 41)).save(paths["exif_jpeg"], exif=exif, quality=90)
    assert Image.open(paths["gray16"]).mode == "I;16" and Image.open(paths["palette"]).mode == "P"
    assert Image.open(paths["palette_transparent"]).info["transparency"] == 3
    return paths


def assert_same(ours, theirs, keys=None):
    for key in keys or theirs.keys():
        want, got = np.asarray(theirs[key]), np.asarray(ours[key])
        assert got.shape == want.shape, (key, got.shape, want.shape)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=ATOL, rtol=0, err_msg=key)


@once
@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_files_and_pil_images_match_transformers(name, pictures):
    ours_class, hf_class, config = PROCESSORS[name]
    paths = sorted(pictures.values())
    opened = [Image.open(path) for path in paths]
    for kwargs in ({}, config):
        if name.endswith(("_warp", "_max_hw")) and not kwargs:
            continue  # the default config is tested under the base name
        ours, theirs = ours_class(**kwargs), hf_class(**kwargs)
        if name == "detr" and not kwargs:  # 800 x 1333: two pictures are enough
            assert_same(ours(paths[:2], return_tensors="np"), theirs(paths[:2], return_tensors="np"))
            continue
        # Files: both load them upright and RGB (load_image), one at a time or as a batch.
        assert_same(ours(paths, return_tensors="np"), theirs(paths, return_tensors="np"))
        # PIL images as opened (EXIF not applied): RGB conversion composites transparency onto white.
        assert_same(ours(opened, do_convert_rgb=True, return_tensors="np"),
                    theirs(opened, do_convert_rgb=True, return_tensors="np"))
        # Unconverted: grey and palette images stay one channel (with a scalar mean / std).
        for key in ("gray", "palette"):
            image = Image.open(pictures[key])
            options = {"image_mean": 0.5, "image_std": 0.25}
            assert_same(ours(image, return_tensors="np", **options), theirs(image, return_tensors="np", **options))


@pytest.mark.parametrize("name", ["vit", "detr", "segformer"])
def test_arrays_and_tensors_match_transformers(name):
    ours_class, hf_class, config = PROCESSORS[name]
    ours, theirs = ours_class(**config), hf_class(**config)
    rng = np.random.default_rng(1)
    hwc = smooth(rng, 23, 34)
    cases = {
        "uint8 channels last": hwc,
        "uint8 channels first": np.ascontiguousarray(np.moveaxis(hwc, -1, 0)),
        "float in 0..1": hwc.astype(np.float32) / 256 + 1e-3 * rng.random(hwc.shape, dtype=np.float32),
        "float whole numbers": hwc.astype(np.float64),
        "grey 2-D": hwc[..., 0],
    }
    for case, image in cases.items():
        options = {"image_mean": 0.5, "image_std": 0.5} if image.ndim == 2 else {}
        hf_image = image[..., None] if image.ndim == 2 else image  # transformers takes no 2-D array
        assert_same(ours(image, return_tensors="np", **options), theirs(hf_image, return_tensors="np", **options))
        assert_same(ours(image, do_resize=False, return_tensors="np", **options),
                    theirs(hf_image, do_resize=False, return_tensors="np", **options))
    batch = np.stack([hwc, hwc[::-1]])  # a 4-D batch
    assert_same(ours(batch, return_tensors="np"), theirs(batch, return_tensors="np"))
    tensor = keras.ops.convert_to_tensor(batch)  # the backend's own tensors
    assert_same(ours(tensor, return_tensors="np"), theirs(batch, return_tensors="np"))
    out = ours(list(batch), return_tensors=FRAMEWORK)
    assert type(out["pixel_values"]).__module__.split(".")[0] in {"pt": ("torch",), "tf": ("tensorflow",),
                                                                  "jax": ("jax", "jaxlib")}[FRAMEWORK]
    channels_last = ours(hwc, data_format="channels_last", return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(channels_last, np.moveaxis(ours(hwc)["pixel_values"], 1, -1))


@once
def test_detr_annotations_match_transformers(pictures, tmp_path):
    paths = [pictures["rgb_landscape"], pictures["rgb_portrait"], pictures["exif_jpeg"]]
    detection = [
        {"image_id": 7, "annotations": [
            {"bbox": [3.5, 4.0, 20.0, 11.25], "category_id": 2, "area": 225.0, "iscrowd": 0},
            {"bbox": [30.0, 1.0, 40.0, 60.0], "category_id": 5, "area": 2400.0},  # clipped at the edge
            {"bbox": [10.0, 10.0, 5.0, 5.0], "category_id": 1, "area": 25.0, "iscrowd": 1},  # crowd: dropped
        ]},
        {"image_id": 8, "annotations": [{"bbox": [1.0, 2.0, 0.0, 9.0], "category_id": 3, "area": 0.0}]},  # empty box
        {"image_id": 9, "annotations": []},
    ]
    for config in ({}, PROCESSORS["detr"][2], {"do_convert_annotations": False, "do_pad": False,
                                               "size": {"height": 32, "width": 40}}):
        count = 2 if not config else 3  # 800 x 1333 by default: two pictures are enough
        ours, theirs = DetrImageProcessor(**config), transformers.DetrImageProcessorPil(**config)
        got = ours(paths[:count], annotations=detection[:count], return_tensors="np")
        want = theirs(paths[:count], annotations=detection[:count], return_tensors="np")
        assert_same(got, want, [key for key in want if key != "labels"])
        for got_label, want_label in zip(got["labels"], want["labels"]):
            assert sorted(got_label) == sorted(want_label)
            assert_same(got_label, want_label)

    # COCO panoptic: segment ids as colours of a PNG, masks resized (nearest) and padded with the images.
    ids = np.zeros((43, 61), dtype=np.int64)
    ids[5:20, 3:30], ids[22:40, 10:55], ids[0:4, :] = 1 + 256 * 3, 2, 70000
    colours = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    Image.fromarray(colours).save(tmp_path / "pan.png")
    panoptic = {"image_id": 4, "file_name": "pan.png", "segments_info": [
        {"id": 1 + 256 * 3, "category_id": 17, "iscrowd": 0, "area": 405},
        {"id": 2, "category_id": 1, "iscrowd": 0, "area": 810},
        {"id": 70000, "category_id": 90, "iscrowd": 1, "area": 244}]}
    config = {"format": "coco_panoptic", **PROCESSORS["detr"][2]}
    images = [pictures["rgb_landscape"], pictures["rgb_portrait"]]
    got = DetrImageProcessor(**config)(images, annotations=[panoptic, dict(panoptic, image_id=5)],
                                       masks_path=tmp_path, return_tensors="np")
    want = transformers.DetrImageProcessorPil(**config)(images, annotations=[panoptic, dict(panoptic, image_id=5)],
                                                        masks_path=tmp_path, return_tensors="np")
    assert_same(got, want, ["pixel_values", "pixel_mask"])
    for got_label, want_label in zip(got["labels"], want["labels"]):
        assert sorted(got_label) == sorted(want_label) and got_label["masks"].dtype == np.bool_
        assert_same(got_label, want_label)

    with pytest.raises(ValueError, match="2 images but 1 annotations"):
        DetrImageProcessor()(images, annotations=[panoptic])
    with pytest.raises(ValueError, match=r"Annotation 0 is not a coco_detection annotation.*'annotations'"):
        DetrImageProcessor()(images[0], annotations={"image_id": 1})


@once
def test_segformer_maps_match_transformers(pictures):
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 5, (43 // 4 + 1, 61 // 4 + 1)).astype(np.uint8)
    label_map = np.asarray(Image.fromarray(ids).resize((61, 43), Image.NEAREST))
    palette_map = Image.fromarray(label_map).convert("P")
    images = [pictures["rgb_landscape"], pictures["rgb_landscape"]]
    for config in ({}, {"do_reduce_labels": True, **PROCESSORS["segformer"][2]}):
        ours, theirs = SegformerImageProcessor(**config), transformers.SegformerImageProcessorPil(**config)
        maps = [label_map.astype(np.int64), palette_map]
        got = ours(images, segmentation_maps=maps, return_tensors="np")
        want = theirs(images, segmentation_maps=[label_map.astype(np.int64), palette_map], return_tensors="np")
        assert got["labels"].dtype == np.int64
        assert_same(got, want)
    assert (maps[0] == label_map).all()  # the caller's map is not reduced in place


@once
def test_save_load_round_trip_and_legacy_folders(pictures, tmp_path):
    image = Image.open(pictures["rgb_portrait"])
    for name, (ours_class, hf_class, config) in PROCESSORS.items():
        ours = ours_class(**config)
        ours.save_pretrained(tmp_path / name)
        loaded = AutoImageProcessor.from_pretrained(tmp_path / name)
        assert type(loaded) is ours_class and loaded.to_dict() == ours.to_dict()
        theirs = hf_class.from_pretrained(tmp_path / name)  # transformers reads what we save
        assert_same(loaded(image, return_tensors="np"), theirs(image, return_tensors="np"))

    # Folders of the hub's checkpoints as transformers 4 wrote them (feature_extractor_type, int sizes).
    legacy = {
        "google/vit-base-patch16-224": {"feature_extractor_type": "ViTFeatureExtractor", "size": 224, "resample": 2,
                                        "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "do_normalize": True},
        "microsoft/resnet-50": {"feature_extractor_type": "ConvNextFeatureExtractor", "size": 224, "resample": 3,
                                "crop_pct": 0.875, "image_mean": [0.485, 0.456, 0.406],
                                "image_std": [0.229, 0.224, 0.225]},
        "facebook/detr-resnet-50": {"feature_extractor_type": "DetrFeatureExtractor", "size": 800, "max_size": 1333,
                                    "format": "coco_detection", "image_mean": [0.485, 0.456, 0.406],
                                    "image_std": [0.229, 0.224, 0.225]},
        "nvidia/segformer-b0": {"feature_extractor_type": "SegformerFeatureExtractor", "size": 512,
                                "reduce_labels": False, "resample": 2},
    }
    hf_classes = {"ViT": transformers.ViTImageProcessorPil, "ConvNext": transformers.ConvNextImageProcessorPil,
                  "Detr": transformers.DetrImageProcessorPil, "Segformer": transformers.SegformerImageProcessorPil}
    for hub_id, config in legacy.items():
        folder = tmp_path / hub_id.replace("/", "--")
        folder.mkdir()
        (folder / "preprocessor_config.json").write_text(json.dumps(config))
        by_image, by_feature = AutoImageProcessor.from_pretrained(folder), AutoFeatureExtractor.from_pretrained(folder)
        prefix = config["feature_extractor_type"].removesuffix("FeatureExtractor")
        assert type(by_image).__name__ == f"{prefix}ImageProcessor"
        assert type(by_feature).__name__ == config["feature_extractor_type"]
        theirs = hf_classes[prefix].from_pretrained(folder)
        assert_same(by_image(image, return_tensors="np"), theirs(image, return_tensors="np"))
        assert_same(by_feature(image, return_tensors="np"), theirs(image, return_tensors="np"))
        by_feature.save_pretrained(folder / "saved")
        saved = json.loads((folder / "saved" / "preprocessor_config.json").read_text())
        assert saved["image_processor_type"] == f"{prefix}ImageProcessor"


def test_bad_input_names_the_culprit(pictures, tmp_path):
    processor = ViTImageProcessor()
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt.*not an image file"):
        processor(str(text_file))
    with pytest.raises(ValueError, match="missing.png.*neither a file that exists"):
        processor(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match=r"Image 1 of the batch is empty \(0x5\)"):
        processor([Image.open(pictures["rgb_portrait"]), Image.new("RGB", (0, 5))])
    with pytest.raises(ValueError, match=r"Image 0 of the batch is empty \(shape \(0, 4, 3\)\)"):
        processor(np.zeros((0, 4, 3), dtype=np.uint8))
    for shape in ((6, 7, 2), (6, 7, 5)):
        with pytest.raises(ValueError, match=rf"Image 0 of the batch: .*channel axis.*{re.escape(str(shape))}"):
            processor(np.zeros(shape, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"image_mean has 3 values but the image has 4 channels.*do_convert_rgb"):
        processor(Image.open(pictures["rgba"]))
    with pytest.raises(ValueError, match=r"Image 0 of the batch: .*values in \[2056, 60138\] cannot be resized.*16-bit"):
        processor(Image.open(pictures["gray16"]), image_mean=0.5, image_std=0.5)
    with pytest.raises(OSError, match=r"'http://127.0.0.1:9/cat.png'"):
        processor("http://127.0.0.1:9/cat.png")
    with pytest.raises(ValueError, match="empty list"):
        processor([])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['do_pad'\]"):
        processor(np.zeros((4, 4, 3), dtype=np.uint8), do_pad=True)
    with pytest.raises(ValueError, match="size must have one of the key sets"):
        ViTImageProcessor(size={"width": 3})
    assert os.path.isfile(pictures["gray16"])


def test_a_huge_image_file_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    """A 20000 x 20000 file is 400 M pixels, over Pillow's decompression-bomb limit: our error names the file.
    The limit is lowered here so that the test image is small."""
    import PIL.Image

    Image.new("RGB", (64, 64)).save(tmp_path / "huge.png")
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)  # 64 * 64 = 4096 > 2 x 1000: Pillow refuses
    with pytest.raises(ValueError, match=r"huge\.png.*exceeds limit.*MAX_IMAGE_PIXELS"):
        ViTImageProcessor()(str(tmp_path / "huge.png"))
