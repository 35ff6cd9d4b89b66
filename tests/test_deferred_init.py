"""from_pretrained skips random draws for the variables a checkpoint fills, and draws them for the others."""

import keras
import numpy as np
import transformers

import keras_tfm
from keras_tfm.deferred_init import deferred_initialization, initialize_deferred


def test_variables_start_undrawn_and_draw_their_initializer_on_request():
    with deferred_initialization():
        layer = keras.layers.Dense(8, kernel_initializer="glorot_uniform")
        layer.build((None, 4))
    if keras.backend.backend() != "torch":  # torch: memory never written, whatever it holds
        assert not np.any(keras.ops.convert_to_numpy(layer.kernel))
    initialize_deferred([layer.kernel])
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert np.all(np.abs(kernel) > 0) and np.abs(kernel).max() <= np.sqrt(6 / 12)
    outside = keras.layers.Dense(8)
    outside.build((None, 4))
    assert np.any(keras.ops.convert_to_numpy(outside.kernel))  # nothing deferred outside the block


def test_new_and_resized_heads_get_random_weights(tmp_path):
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=24, max_position_embeddings=32, num_labels=3)
    transformers.BertModel(config).save_pretrained(tmp_path / "base")
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path / "three")
    for folder, extra in (("base", {}), ("three", {"num_labels": 5, "ignore_mismatched_sizes": True})):
        model = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / folder, **extra)
        kernel = keras.ops.convert_to_numpy(model.classifier.kernel)
        assert kernel.std() > 1e-3, folder  # drawn from the initializer, not left at zero
    hf = transformers.BertModel.from_pretrained(tmp_path / "base")
    ours = keras_tfm.AutoModel.from_pretrained(tmp_path / "base")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours.embeddings.token_embedding.embeddings),
                                  hf.embeddings.word_embeddings.weight.detach().numpy())
