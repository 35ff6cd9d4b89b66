"""The layer kit every model is assembled from.

- ``fast``: Keras layers called without Keras' per-call bookkeeping once built.
- ``attention``: the one attention function, its masks, and KV-cache writes.
- ``attention_layers``: self-attention (separate or fused q/k/v) and cross-attention.
- ``cache``: ``KVCache``, the typed cache (self part, and cross part for encoder-decoders).
- ``norms``, ``mlp``, ``positions``, ``rotary``, ``embeddings``, ``heads``, ``activations``.
- ``conv``: convolutions, batch norms, and the image layout inside models.
- ``resize``: torch's ``F.interpolate`` (nearest, bilinear, bicubic) to the float, on every backend.
- ``drop_path``: stochastic depth on residual branches.
- ``weight_norm``: weight-normalised convolutions (torch's ``weight_norm``; Wav2Vec2's positional conv).
- ``spec_augment``: SpecAugment's random span masks, drawn in-graph (Wav2Vec2-style training).
- ``boxes``: bounding-box formats, IoU and generalized IoU (DETR's matching and loss).
- ``transformer_block``, ``encoder``, ``decoder``: the block and the two stacks.
"""

from keras_tfm.layers.activations import get_activation, normal_init
from keras_tfm.layers.attention import AttentionMask, attention, causal_mask, padding_mask
from keras_tfm.layers.attention_layers import CrossAttention, FusedQKVSelfAttention, SelfAttention
from keras_tfm.layers.boxes import (
    aligned_generalized_box_iou,
    box_area,
    box_iou,
    center_to_corners,
    corners_to_center,
    generalized_box_iou,
)
from keras_tfm.layers.cache import KVCache
from keras_tfm.layers.conv import (
    BatchNorm,
    Conv1D,
    Conv2D,
    FrozenBatchNorm,
    MaxPool2D,
    channel_axis,
    conv_batch_norm,
    flatten_spatial,
    global_average_pool,
    image_data_format,
    spatial_shape,
    to_channels_first,
    to_internal,
    unflatten_spatial,
)
from keras_tfm.layers.decoder import DecoderStack
from keras_tfm.layers.drop_path import DropPath
from keras_tfm.layers.embeddings import TextEmbeddings
from keras_tfm.layers.encoder import EncoderStack, encoder_stack
from keras_tfm.layers.fast import Dense, Dropout, Embedding, FastCall, Layer, embedding_table
from keras_tfm.layers.heads import ClassificationHead, MaskedLMHead, last_positions, tied_lm_logits
from keras_tfm.layers.mlp import MLP, GatedMLP
from keras_tfm.layers.norms import LayerNorm, RMSNorm
from keras_tfm.layers.positions import (
    ConcatenatedSinusoids,
    RelativePositionBias,
    SinusoidalPositions,
    default_position_ids,
    relative_position_buckets,
)
from keras_tfm.layers.resize import (
    bilinear_rows,
    downsample_mask,
    interpolation_matrix,
    resize,
    resize_per_sample,
    static_dim,
)
from keras_tfm.layers.rotary import RotaryEmbedding, apply_rotary
from keras_tfm.layers.spec_augment import compute_mask_indices
from keras_tfm.layers.transformer_block import TransformerBlock
from keras_tfm.layers.weight_norm import WeightNormConv1D
