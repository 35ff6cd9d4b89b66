"""OCR of document images with Tesseract (through ``pytesseract``), for document question answering.

``apply_tesseract`` gives the words of an image and their boxes normalised to 0..1000, as
transformers 4's document-question-answering pipeline (and LayoutLM's image processors) make them.
"""

import numpy as np

INSTALL_HINT = (
    "OCR needs pytesseract and the Tesseract engine: `pip install pytesseract`, and the tesseract binary "
    "(e.g. `apt-get install tesseract-ocr` or `brew install tesseract`; see "
    "https://tesseract-ocr.github.io/tessdoc/Installation.html). Or pass the words and their boxes yourself "
    "(word_boxes)."
)


def normalize_box(box, width, height):
    """A pixel box (left, upper, right, lower) of an image ``width`` x ``height``, scaled to 0..1000
    (truncated to ints, as LayoutLM's tokenizers and transformers' OCR give them)."""
    return [int(1000 * (coordinate / size)) for coordinate, size in zip(box, (width, height, width, height))]


def words_and_boxes(data, image_size):
    """(words, boxes) from ``pytesseract.image_to_data(..., output_type="dict")`` of an image of
    ``image_size`` (width, height): the empty words dropped, each box (left, top, left + width,
    top + height) normalised to 0..1000."""
    image_width, image_height = image_size
    words, boxes = [], []
    for word, x, y, w, h in zip(data["text"], data["left"], data["top"], data["width"], data["height"]):
        if not str(word).strip():
            continue
        words.append(word)
        boxes.append(normalize_box([x, y, x + w, y + h], image_width, image_height))
    return words, boxes


def _pytesseract():
    try:
        import pytesseract
    except ImportError:
        raise ImportError(f"pytesseract is not installed. {INSTALL_HINT}") from None
    return pytesseract


def apply_tesseract(image, lang=None, tesseract_config=""):
    """Runs Tesseract OCR on a document image.

    Args:
        image: a ``PIL.Image.Image`` or an (H, W[, C]) uint8 array.
        lang: Tesseract's language code(s) ("eng", "eng+fra"); Tesseract's default when None.
        tesseract_config: further Tesseract flags ("--psm 6").

    Returns:
        ``(words, boxes)``: the recognised words and their (left, upper, right, lower) boxes
        normalised to 0..1000.

    Raises:
        ImportError: pytesseract or the tesseract binary is missing (the message says how to install them).
    """
    pytesseract = _pytesseract()
    if isinstance(image, np.ndarray):
        from PIL import Image

        image = Image.fromarray(image)
    try:
        data = pytesseract.image_to_data(image, lang=lang, output_type="dict", config=tesseract_config or "")
    except pytesseract.TesseractNotFoundError:
        raise ImportError(f"The tesseract binary is not installed or not on PATH. {INSTALL_HINT}") from None
    return words_and_boxes(data, image.size)
