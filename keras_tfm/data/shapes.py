"""Captioned pictures of shapes, drawn on demand: a captioning task that needs no download.

``shape_captions(n, size=32, seed=0)`` draws ``n`` RGB pictures of grey noise holding one or two
shapes of one colour and one kind, and captions them: "a red square", "two blue triangles". The colours
are those of the quick tour's image-classification pictures. Squares have a side of 7/32 of the picture,
triangles 12/32: one or two of each cover four clearly different areas, which a tiny ViT with patches of
8 learns in seconds (squares and circles of one size, or triangles of half a square's area, it confuses).

``caption_tokenizer(captions)`` trains a word-level tokenizer on captions (``tokenizers``'
``WordLevelTrainer``): one token per word, ``</s>`` appended, decoded with spaces; ``<s>`` starts the
decoder.
"""

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}
SHAPES = ("square", "triangle")
SIDES = {"square": 7 / 32, "triangle": 12 / 32}  # of the picture's side
COUNTS = ("a", "two")
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


def shape_captions(n, size=32, seed=0):
    """``n`` pictures (PIL images, ``size`` x ``size``) and their captions, seeded by ``seed``."""
    from PIL import Image, ImageDraw

    if size < 16:
        raise ValueError(f"shape_captions: size={size} is too small to draw two shapes apart; use 16 or more.")
    rng = np.random.RandomState(seed)
    names = list(COLOURS)
    images, captions = [], []
    for _ in range(n):
        colour, shape, count = names[rng.randint(len(names))], SHAPES[rng.randint(len(SHAPES))], rng.randint(1, 3)
        image = Image.fromarray(rng.randint(90, 170, (size, size, 3)).astype("uint8"))
        draw = ImageDraw.Draw(image)
        for box in _boxes(rng, int(size * SIDES[shape]), size, count):
            if shape == "square":
                draw.rectangle(box, fill=COLOURS[colour])
            else:
                corners = [(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])]
                draw.polygon(corners, fill=COLOURS[colour])
        images.append(image)
        captions.append(f"{COUNTS[count - 1]} {colour} {shape}" + ("s" if count > 1 else ""))
    return images, captions


def _boxes(rng, side, size, count):
    """``count`` boxes (left, top, right, bottom) of ``side`` pixels in a ``size`` picture, a pixel apart at least."""
    return place_squares(rng, lambda: side, size, count, gap=1)


def place_squares(rng, draw_side, size, count, gap):
    """``count`` square places (left, top, right, bottom) in a ``size`` picture, ``gap`` pixels apart at
    least; ``draw_side()`` gives each try's side."""
    boxes = []
    while len(boxes) < count:
        side = draw_side()
        left, top = rng.randint(0, size - side + 1, 2)
        box = (int(left), int(top), int(left + side - 1), int(top + side - 1))
        if all(box[0] > b[2] + gap or b[0] > box[2] + gap or box[1] > b[3] + gap or b[1] > box[3] + gap
               for b in boxes):
            boxes.append(box)
        elif rng.rand() < 0.1:  # the first places may leave no room: start again
            boxes = []
    return boxes


def caption_tokenizer(captions):
    """A ``PreTrainedTokenizerFast`` whose word-level vocabulary is trained on ``captions``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    from keras_tfm.processing.tokenization_fast import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk_token"]))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words.train_from_iterator(captions, trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS.values())))
    eos = SPECIAL_TOKENS["eos_token"]
    words.post_processor = processors.TemplateProcessing(single=f"$A {eos}",
                                                         special_tokens=[(eos, words.token_to_id(eos))])
    return PreTrainedTokenizerFast(tokenizer_object=words, **SPECIAL_TOKENS)
