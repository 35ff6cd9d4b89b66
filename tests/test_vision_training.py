"""Image classification training on every backend: a tiny ViT trained from scratch on images the test
draws (which colour is the square?), through Keras ``fit`` and through ``Trainer``, both on the model's
own loss with ``DefaultDataCollator`` stacking ``pixel_values``."""

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import DefaultDataCollator, Trainer, TrainingArguments, ViTConfig, ViTForImageClassification, backend

datasets = pytest.importorskip("datasets")

COLOURS = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]], "float32")  # red, green, blue, yellow
NAMES = ["red", "green", "blue", "yellow"]


def coloured_squares(n, size=16, seed=0):
    """``n`` noisy grey images (3, size, size), each with one square of random size and place whose colour
    is the label."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, len(COLOURS), n)
    images = rng.uniform(-0.5, 0.5, (n, 3, size, size)).astype("float32")
    for image, label in zip(images, labels):
        side = rng.randint(4, 9)
        top, left = rng.randint(0, size - side + 1, 2)
        image[:, top:top + side, left:left + side] += COLOURS[label][:, None, None]
    return images, labels


def dataset(n, seed):
    images, labels = coloured_squares(n, seed=seed)
    return datasets.Dataset.from_dict({"pixel_values": images, "label": labels}).with_format("numpy")


def tiny_vit(seed=0):
    keras.utils.set_random_seed(seed)
    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=16,
                       patch_size=4, id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)})
    return ViTForImageClassification.from_config(config)


def accuracy(model, images, labels):
    logits = backend.to_numpy(model(pixel_values=images).logits)
    return float((np.argmax(logits, -1) == labels).mean())


def test_fit_trains_a_vit_on_its_own_loss():
    model = tiny_vit()
    train = model.prepare_tf_dataset(dataset(256, seed=0), batch_size=16, shuffle=True, collate_fn=DefaultDataCollator())
    model.compile(optimizer=keras.optimizers.Adam(3e-3), metrics=["accuracy"])  # no loss: the model's own
    history = model.fit(train, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    test_images, test_labels = coloured_squares(128, seed=1)
    assert accuracy(model, test_images, test_labels) >= 0.9


def test_trainer_trains_a_vit_with_the_default_collator(tmp_path):
    model = tiny_vit(seed=1)
    args = TrainingArguments(str(tmp_path), learning_rate=3e-3, per_device_train_batch_size=16, num_train_epochs=3,
                             per_device_eval_batch_size=64, disable_tqdm=True, save_strategy="no", logging_steps=16)
    trainer = Trainer(model=model, args=args, train_dataset=dataset(256, seed=0), eval_dataset=dataset(128, seed=1),
                      data_collator=DefaultDataCollator(),
                      compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())})
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy"] >= 0.9, metrics
    # The trained model saves as HF's and answers the same after loading.
    trainer.save_model(str(tmp_path / "final"))
    again = keras_tfm.AutoModelForImageClassification.from_pretrained(tmp_path / "final")
    images, _ = coloured_squares(8, seed=2)
    np.testing.assert_allclose(backend.to_numpy(again(pixel_values=images).logits),
                               backend.to_numpy(model(pixel_values=images).logits), atol=1e-5)
    assert again.config.id2label[3] == "yellow"
