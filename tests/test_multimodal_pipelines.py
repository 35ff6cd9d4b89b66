"""image-to-text / visual-question-answering / document-question-answering: what transformers 4.57's pipelines gave
on the same tiny VisionEncoderDecoder, BLIP, ViLT and LayoutLM (tests/fixtures/multimodal/, written by
tests/make_multimodal_fixtures.py), on every backend; batching, streaming, loading, and bad input."""

import json
import os

import numpy as np
import pytest

from keras_tfm import pipeline
from keras_tfm.pipelines import (
    SUPPORTED_TASKS,
    DocumentQuestionAnsweringPipeline,
    ImageToTextPipeline,
    KeyDataset,
    VisualQuestionAnsweringPipeline,
    infer_task,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "multimodal")
with open(os.path.join(ROOT, "pipeline_outputs.json")) as f:
    FIXTURES = json.load(f)
CASES = {case["name"]: case for case in FIXTURES["cases"]}
RESULTS = sorted(name for name, case in CASES.items() if "output" in case)
SCORE_TOLERANCE = 1e-4

_PIPES = {}


def get_pipe(model, task=None):
    """One pipeline per (model, task) for the whole module (loading and compiling are the slow parts)."""
    task = task or next(case["task"] for case in CASES.values() if case["model"] == model)
    if (model, task) not in _PIPES:
        _PIPES[model, task] = pipeline(task, model=os.path.join(ROOT, model))
    return _PIPES[model, task]


def resolve(value):
    """A recorded input with image names made paths and the word-box placeholders filled in."""
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if value in ("<short>", "<long>"):
        return [(word, list(box)) for word, box in FIXTURES["word_boxes"][value[1:-1]]]
    if isinstance(value, str) and value.endswith(".png"):
        return os.path.join(ROOT, "images", value)
    return value


def run_case(case, **extra):
    pipe = get_pipe(case["model"], case["task"])
    inputs, kwargs = resolve(case["inputs"]), {**case["call_kwargs"], **extra}
    if case["task"] == "image-to-text" or isinstance(inputs, list):
        return pipe(inputs, **kwargs)
    return pipe(**inputs, **kwargs)


def assert_same(ours, theirs, where="output"):
    """Equal structure, keys and text; scores within SCORE_TOLERANCE."""
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} != {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{where}: keys {list(ours)} != {list(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{where}: {len(ours)} items != {len(theirs)}: {ours} vs {theirs}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert abs(ours - theirs) <= SCORE_TOLERANCE, f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} != {theirs!r}"


@pytest.mark.parametrize("name", RESULTS)
def test_same_outputs_as_transformers_4(name):
    assert_same(run_case(CASES[name]), CASES[name]["output"])


@pytest.mark.parametrize("name", ["ved_list", "vqa_dicts", "docqa_long_windows"])
def test_batches_give_the_same_outputs(name):
    # ViLT pads images of different sizes (pixel_mask), LayoutLM pads windows of different lengths
    assert_same(run_case(CASES[name], batch_size=3), CASES[name]["output"])


def test_document_windows_are_those_transformers_4_feeds_layoutlm():
    pipe = get_pipe("layoutlm-tiny")
    for name, case in CASES.items():
        if case["task"] != "document-question-answering":
            continue
        params = pipe._sanitize_parameters(**case["call_kwargs"])[0]
        inputs = resolve(case["inputs"])
        for example, windows in zip(inputs if isinstance(inputs, list) else [inputs], case["windows"]):
            ours = [{key: np.asarray(f[key]).tolist() for key in ("input_ids", "token_type_ids", "bbox")}
                    for f in pipe.preprocess(example, **params)]
            assert ours == windows, name


def test_ved_prompt_is_the_error_of_transformers_4():
    case = CASES["ved_prompt"]
    with pytest.raises(ValueError, match="^" + case["error"]["message"]):
        run_case(case)


def test_generators_datasets_and_keywords_stream_as_transformers_4():
    case = CASES["ved_list"]
    captioner = get_pipe(case["model"])
    streamed = captioner(path for path in resolve(case["inputs"]))
    assert not isinstance(streamed, list)
    assert_same(list(streamed), case["output"])
    assert_same(captioner(images=resolve(case["inputs"][0])), case["output"][0])
    case = CASES["vqa_images"]
    oracle = get_pipe(case["model"])
    rows = [{"image": path} for path in resolve(case["inputs"]["image"])]
    assert_same(oracle(image=KeyDataset(rows, "image"), question=case["inputs"]["question"], top_k=1),
                case["output"])
    case = CASES["vqa_dicts"]
    assert_same(list(oracle((example for example in resolve(case["inputs"])), top_k=2)), case["output"])
    case = CASES["docqa_dicts"]
    document_qa = get_pipe(case["model"])
    assert_same(list(document_qa((d for d in resolve(case["inputs"])), **case["call_kwargs"])), case["output"])


def test_pil_images_and_arrays_are_images():
    from PIL import Image

    case = CASES["vqa_one"]
    oracle = get_pipe(case["model"])
    image = Image.open(resolve(case["inputs"]["image"]))
    assert_same(oracle(image=image, question=case["inputs"]["question"]), case["output"])
    assert_same(oracle(image=np.asarray(image.convert("RGB")), question=case["inputs"]["question"]),
                case["output"])


def test_pipeline_classes_loading_and_task_inference():
    assert type(get_pipe("vit-gpt2-tiny")) is ImageToTextPipeline
    assert type(get_pipe("blip-tiny")) is ImageToTextPipeline
    assert type(pipeline("vqa", model=os.path.join(ROOT, "vilt-tiny"))) is VisualQuestionAnsweringPipeline
    document_qa = get_pipe("layoutlm-tiny")
    assert type(document_qa) is DocumentQuestionAnsweringPipeline
    assert document_qa.image_processor is None  # LayoutLM v1 reads no pixels
    assert get_pipe("vilt-tiny").image_processor is not None and get_pipe("blip-tiny").tokenizer is not None
    for model, task in (("vit-gpt2-tiny", "image-to-text"), ("blip-tiny", "image-to-text"),
                        ("vilt-tiny", "visual-question-answering"), ("layoutlm-tiny", "document-question-answering")):
        assert infer_task(os.path.join(ROOT, model), None, {}) == task
    assert SUPPORTED_TASKS["image-to-text"]["default"]["model"] == ("ydshieh/vit-gpt2-coco-en", "5bebf1e")
    assert SUPPORTED_TASKS["visual-question-answering"]["default"]["model"][0] == "dandelin/vilt-b32-finetuned-vqa"
    assert SUPPORTED_TASKS["document-question-answering"]["default"]["model"][0] == "impira/layoutlm-document-qa"


def test_bad_inputs_give_clear_errors():
    captioner, oracle, document_qa = get_pipe("vit-gpt2-tiny"), get_pipe("vilt-tiny"), get_pipe("layoutlm-tiny")
    image = resolve("photo.png")
    with pytest.raises(ValueError, match="without an inputs argument"):
        captioner()
    with pytest.raises(ValueError, match="max_new_tokens` is defined both"):
        captioner(image, max_new_tokens=3, generate_kwargs={"max_new_tokens": 4})
    with pytest.raises(ValueError, match="does not support conditional text generation"):
        captioner(image, prompt="a picture of")
    with pytest.raises(ValueError, match="prompt.*got int"):
        get_pipe("blip-tiny")(image, prompt=3)
    with pytest.raises(ValueError, match="needs an image for its question"):
        oracle(question="what is the cat doing?")
    with pytest.raises(ValueError, match="needs an image for the question 'where'"):
        oracle([{"image": image, "question": "why"}, {"question": "where"}])
    with pytest.raises(ValueError, match="question must be a str or a list of str"):
        oracle(image=image, question=3)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        oracle(image=image, question="why", top_k=0)
    boxes = resolve("<short>")
    with pytest.raises(ValueError, match=r"word 1 \('number'\).*normalised to 0..1000"):
        document_qa(image=image, question="what?", word_boxes=[boxes[0], ("number", [10, 20, 1200, 40])])
    with pytest.raises(ValueError, match=r"word_boxes\[0\] must be a \(word, \[x0, y0, x1, y1\]\) pair"):
        document_qa(image=image, question="what?", word_boxes=[("invoice", 10, 20, 30, 40)])
    with pytest.raises(ValueError, match=r"word_boxes\[1\] \('number'\): the box must be 4 numbers"):
        document_qa(image=image, question="what?", word_boxes=[boxes[0], ("number", [10, 20, 30])])
    with pytest.raises(ValueError, match="integers in 0..1000"):
        document_qa(image=image, question="what?", word_boxes=[("number", [10.5, 20, 30, 40])])
    with pytest.raises(ValueError, match="You must provide an image or word_boxes"):
        document_qa(image=None, question="what?")
    with pytest.raises(ValueError, match="needs a question and a document"):
        document_qa()
    with pytest.raises(ValueError, match="top_k parameter should be >= 1"):
        document_qa(image=image, question="what?", word_boxes=boxes, top_k=0)


def test_no_ocr_engine_is_a_clear_error():
    pytest.importorskip("PIL")
    try:
        import pytesseract  # noqa: F401

        pytest.skip("pytesseract is installed: OCR would run")
    except ImportError:
        pass
    with pytest.raises(ImportError, match="pip install pytesseract"):
        get_pipe("layoutlm-tiny")(image=resolve("photo.png"), question="what is the total?")


def test_docqa_needs_a_layoutlm_model():
    oracle = get_pipe("vilt-tiny")
    with pytest.raises(ValueError, match="runs LayoutLM \\(v1\\).*ViltForQuestionAnswering"):
        DocumentQuestionAnsweringPipeline(oracle.model, tokenizer=oracle.tokenizer)
    with pytest.raises(ValueError, match="AutoModelForDocumentQuestionAnswering has no model for model_type 'vilt'"):
        pipeline("document-question-answering", model=os.path.join(ROOT, "vilt-tiny"))
