"""ResNet: Hugging Face PyTorch names <-> keras_tfm variable paths."""

from keras_tfm.checkpoints.conversion_tables import ConversionTables, register_conversion
from keras_tfm.checkpoints.weight_map import batch_norm, conv2d, linear

LAYER = "encoder.stages.{i}.layers.{j}"


def conv_norm(hf, keras):
    """HF's ResNetConvLayer / ResNetShortCut (``convolution`` without bias, ``normalization``) <->
    a ``ConvNorm`` (``conv``, ``norm``)."""
    return [*conv2d(f"{hf}.convolution", f"{keras}.conv", bias=False), *batch_norm(f"{hf}.normalization", f"{keras}.norm")]


BACKBONE = [
    *conv_norm("embedder.embedder", "embedder.stem"),
    *conv_norm(f"{LAYER}.shortcut", f"{LAYER}.shortcut"),
    *conv_norm(f"{LAYER}.layer.{{k}}", f"{LAYER}.convs.{{k}}"),
]

# HF's classifier is Sequential(Flatten, Linear): the Linear is its item 1.
CLASSIFIER = linear("classifier.1", "classifier")

TABLES = register_conversion(ConversionTables(BACKBONE, heads={"classifier": CLASSIFIER}), "resnet")
