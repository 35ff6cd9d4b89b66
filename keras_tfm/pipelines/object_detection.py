"""``object-detection``: boxes, labels and scores of the objects in an image."""

from keras_tfm.pipelines.text_classification import label_name
from keras_tfm.pipelines.vision_base import ImagePipeline


class ObjectDetectionPipeline(ImagePipeline):
    """Detects objects with any ``*ForObjectDetection`` model (DETR), through its image processor's
    ``post_process_object_detection``.

    Example:
        >>> detector = pipeline("object-detection", model="facebook/detr-resnet-50")
        >>> detector("parrots.png")
        [{'score': 0.997, 'label': 'bird', 'box': {'xmin': 69, 'ymin': 171, 'xmax': 396, 'ymax': 507}}, ...]

    Call arguments: ``threshold`` (0.5: the least score kept), ``timeout`` (seconds to fetch a
    URL). Boxes are in pixels of the image as given, corners truncated to ints as transformers does.
    """

    output_keys = ("logits", "pred_boxes")

    def _sanitize_parameters(self, threshold=None, timeout=None):
        preprocess = {"timeout": timeout} if timeout is not None else {}
        postprocess = {"threshold": threshold} if threshold is not None else {}
        return preprocess, {}, postprocess

    def postprocess(self, outputs, threshold=0.5):
        detections = self.image_processor.post_process_object_detection(
            self.batched(outputs, self.output_keys), threshold=threshold, target_sizes=[outputs["target_size"]])[0]
        id2label = self.model.config.id2label
        return [
            {"score": float(score), "label": label_name(id2label, int(label)), "box": bounding_box(box)}
            for score, label, box in zip(detections["scores"], detections["labels"], detections["boxes"])
        ]


def bounding_box(box):
    """[xmin, ymin, xmax, ymax] -> {"xmin": int, ...}, truncated toward zero as ``torch.Tensor.int()``."""
    xmin, ymin, xmax, ymax = (int(value) for value in box)
    return {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
