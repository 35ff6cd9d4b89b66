"""Questions about pictures of shapes, made from their captions: visual question answering without a download.

``shape_questions(n, size=32, seed=0)`` draws ``n`` pictures with ``keras_tfm.data.shapes.shape_captions``
("two blue triangles") and asks each picture the three questions of ``QUESTIONS``: its colour
("blue"), how many shapes it holds ("2", VQA's digits) and which shape ("triangle"). The questions
are the same whatever the picture, so only the picture answers them. Rows are dicts
``{"image", "question", "answer", "kind"}``; ``ANSWERS`` lists every answer (a VQA model's labels).

``soft_labels(answers, label2id)`` gives the VQA training targets ViLT's head reads: one row of
``len(label2id)`` scores in [0, 1] per example. VQA v2 scores an answer ``min(1, annotators / 3)``;
here each question has one annotator's sure answer, so its score is 1 and the others 0.
"""

import numpy as np

from keras_tfm.data.shapes import COLOURS, COUNTS, SHAPES, shape_captions

QUESTIONS = {"colour": "what colour are the shapes?", "count": "how many shapes are there?",
             "shape": "what shape is it?"}
NUMBERS = {word: str(i + 1) for i, word in enumerate(COUNTS)}  # "a" -> "1", "two" -> "2"
ANSWERS = [*COLOURS, *NUMBERS.values(), *SHAPES]


def shape_questions(n, size=32, seed=0):
    """``3 * n`` rows (``image``, ``question``, ``answer``, ``kind``): each of ``n`` pictures asked each question."""
    images, captions = shape_captions(n, size=size, seed=seed)
    rows = []
    for image, caption in zip(images, captions):
        count, colour, shape = caption.split(" ")
        answers = {"colour": colour, "count": NUMBERS[count], "shape": shape.rstrip("s")}
        rows.extend({"image": image, "question": QUESTIONS[kind], "answer": answers[kind], "kind": kind}
                    for kind in QUESTIONS)
    return rows


def soft_labels(answers, label2id):
    """(len(answers), len(label2id)) float32 VQA targets: 1 at each answer's label, 0 elsewhere."""
    targets = np.zeros((len(answers), len(label2id)), "float32")
    for row, answer in enumerate(answers):
        if answer not in label2id:
            raise ValueError(f"soft_labels: the answer {answer!r} is not a label; the labels are {list(label2id)}.")
        targets[row, label2id[answer]] = 1.0
    return targets
