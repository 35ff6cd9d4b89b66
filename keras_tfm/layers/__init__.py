"""Layers shared by the architectures."""

from keras_tfm.layers.activations import get_activation
from keras_tfm.layers.attention import MultiHeadAttention
from keras_tfm.layers.embeddings import TextEmbeddings
from keras_tfm.layers.heads import MaskedLMHead
from keras_tfm.layers.transformer_encoder import TransformerEncoder, TransformerEncoderLayer
