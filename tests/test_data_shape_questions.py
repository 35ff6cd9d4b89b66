"""keras_tfm.data.shape_questions: three questions per shape picture, answered from its caption, and VQA's
soft-label targets."""

import numpy as np
import pytest

from keras_tfm.data.shape_questions import ANSWERS, QUESTIONS, shape_questions, soft_labels
from keras_tfm.data.shapes import COLOURS, shape_captions


def test_each_picture_gets_each_question_answered_by_its_caption():
    rows = shape_questions(12, seed=3)
    images, captions = shape_captions(12, seed=3)
    assert len(rows) == 3 * len(images)
    for i, (image, caption) in enumerate(zip(images, captions)):
        asked = rows[3 * i:3 * i + 3]
        assert [row["question"] for row in asked] == list(QUESTIONS.values())
        assert all(np.array_equal(np.asarray(row["image"]), np.asarray(image)) for row in asked)
        colour, count, shape = (row["answer"] for row in asked)
        assert caption == f"{'a' if count == '1' else 'two'} {colour} {shape}{'s' if count == '2' else ''}"
    assert {row["answer"] for row in rows} <= set(ANSWERS)


def test_the_answer_is_in_the_pixels():
    # The colour answer is the colour drawn: the picture holds pixels of exactly that colour.
    for row in shape_questions(10, seed=1):
        if row["kind"] == "colour":
            pixels = np.asarray(row["image"]).reshape(-1, 3)
            assert (pixels == COLOURS[row["answer"]]).all(axis=1).sum() >= 40


def test_questions_never_give_the_answer_away():
    words = {word.strip("?") for question in QUESTIONS.values() for word in question.split()}
    assert not words & set(ANSWERS)
    assert {"square", "triangle", "1", "2", *COLOURS} == set(ANSWERS)


def test_soft_labels():
    label2id = {answer: i for i, answer in enumerate(ANSWERS)}
    targets = soft_labels(["red", "2", "triangle"], label2id)
    assert targets.shape == (3, len(ANSWERS)) and targets.dtype == np.float32
    assert targets.sum(axis=1).tolist() == [1, 1, 1]
    assert targets[0, label2id["red"]] == targets[1, label2id["2"]] == targets[2, label2id["triangle"]] == 1
    with pytest.raises(ValueError, match="'purple'"):
        soft_labels(["purple"], label2id)
