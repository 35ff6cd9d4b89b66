"""``visual-question-answering`` (``vqa``): the answers a classifier such as ViLT gives to a question about an image.

Hugging Face ``transformers`` 5 deleted this pipeline; this keeps 4.57's behaviour: the
answers are the model's labels (``config.id2label``) scored by the sigmoid of their logits
(VQA is multi-label), best first, ``top_k`` of them (5 by default, at most ``num_labels``).
One (image, question) gives a list of ``{"score", "answer"}``; several give one such list each.
"""

from keras_tfm.pipelines.base import KeyDataset, check_text, sigmoid
from keras_tfm.pipelines.vision_base import ImagePipeline, is_image


class VisualQuestionAnsweringPipeline(ImagePipeline):
    """Answers open-ended questions about images (``pipeline("vqa")``; default model dandelin/vilt-b32-finetuned-vqa).

    Example:
        >>> oracle = pipeline("vqa", model="dandelin/vilt-b32-finetuned-vqa")
        >>> oracle(image="lena.png", question="What is she wearing ?", top_k=1)
        [{'score': 0.948, 'answer': 'hat'}]

    Inputs, as 4.57 takes them:

    - ``pipe(image=image, question=question)``, or ``pipe({"image": ..., "question": ...})``;
    - one image and a list of questions, a list of images (or a ``KeyDataset`` of images) and one
      question, or both lists (every question asked of every image: for each question, each image);
    - a list, generator or dataset of ``{"image", "question"}`` dicts.

    An image is a PIL image, path, URL, base64 string, array or tensor. Call arguments:
    ``top_k`` (5), ``padding`` / ``truncation`` (for the tokenizer), ``timeout`` (to fetch a URL).
    """

    _load_tokenizer = True
    _load_image_processor = True

    def _sanitize_parameters(self, top_k=None, padding=None, truncation=None, timeout=None):
        preprocess = {key: value for key, value in (("padding", padding), ("truncation", truncation),
                                                    ("timeout", timeout)) if value is not None}
        postprocess = {}
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
                raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
            postprocess["top_k"] = top_k
        return preprocess, {}, postprocess

    def __call__(self, image=None, question=None, **kwargs):
        """Answers a question about an image (-> a list of answers), or several (-> one list each)."""
        return super().__call__(vqa_inputs(image, question, self.task), **kwargs)

    def preprocess(self, example, padding=False, truncation=False, timeout=None):
        image, question = _image_and_question(example, self.task)
        feature = super().preprocess(image, timeout=timeout)
        encoded = self.tokenizer(question, padding=padding, truncation=truncation)
        feature.update({name: list(encoded[name]) for name in ("input_ids", "token_type_ids", "attention_mask")
                        if name in encoded})
        return feature

    def postprocess(self, outputs, top_k=5):
        labels = self.model.config.id2label
        scores = sigmoid(outputs["logits"].astype("float64"))
        top_k = min(top_k, len(scores))
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top_k]
        return [{"score": float(scores[i]), "answer": labels[i]} for i in order]


def vqa_inputs(image, question, task="visual-question-answering"):
    """The pipeline input for ``image`` and ``question`` as 4.57 pairs them: one dict, a list of dicts, or
    ``image`` itself when it already holds the examples (a dict, a list of dicts, a generator, a dataset)."""
    images_batch = _is_image_batch(image)
    questions_batch = isinstance(question, list) and all(isinstance(q, str) for q in question)
    if image is None:
        raise ValueError(f"The {task} pipeline needs an image for its question (image=..., or dicts "
                         "{'image': ..., 'question': ...}); got no image.")
    if question is None:
        return image  # the examples themselves (dicts), checked one by one by preprocess
    if not (isinstance(question, str) or questions_batch):
        raise ValueError(f"question must be a str or a list of str, got {type(question).__name__}: {question!r:.80}.")
    if not (is_image(image) or images_batch):
        raise ValueError(f"With question=..., image must be an image or a list / KeyDataset of images, got "
                         f"{type(image).__name__}: {image!r:.80}.")
    if isinstance(question, str):
        return {"image": image, "question": question} if is_image(image) else \
            [{"image": im, "question": question} for im in image]
    if is_image(image):
        return [{"image": image, "question": q} for q in question]
    return [{"image": im, "question": q} for q in question for im in image]


def _is_image_batch(image):
    return isinstance(image, KeyDataset) or (isinstance(image, list) and bool(image) and all(map(is_image, image)))


def _image_and_question(example, task):
    if not isinstance(example, dict):
        raise ValueError(f"The {task} pipeline takes (image, question) pairs as dicts {{'image': ..., 'question': "
                         f"...}} (or image= and question=); got {type(example).__name__}: {example!r:.80}.")
    if example.get("image") is None:
        raise ValueError(f"The {task} pipeline needs an image for the question {example.get('question')!r}: the "
                         "example has no 'image'.")
    if "question" not in example:
        raise ValueError(f"The {task} pipeline needs a question for each image: the example has no 'question' "
                         f"(its keys: {sorted(example)}).")
    return example["image"], check_text(task, example["question"], "a str as question")
