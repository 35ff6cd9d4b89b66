"""Trainer on DETR: its labels, one dict of ``class_labels`` and ``boxes`` per picture (as
``DetrImageProcessor`` makes them from COCO annotations), pass through the Trainer's batches as
framework tensors, and a few steps on drawn scenes lower the matching loss."""

import numpy as np

import keras_tfm
from keras_tfm import (DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig, Trainer,
                       TrainingArguments, backend)
from keras_tfm.backend.training import RETURN_TENSORS
from keras_tfm.data.scenes import SCENE_LABELS, coco_annotation, shape_scenes
from keras_tfm.training.data import BatchSource


def rows(n):
    scenes = shape_scenes(n, size=32, seed=0)
    processor = DetrImageProcessor(size={"height": 32, "width": 32}, do_pad=False)
    encoded = processor([s["image"] for s in scenes], annotations=[coco_annotation(s, i) for i, s in enumerate(scenes)])
    return [{"pixel_values": p, "labels": {"class_labels": t["class_labels"], "boxes": t["boxes"]}}
            for p, t in zip(encoded["pixel_values"], encoded["labels"])]


def collate(examples):
    return {"pixel_values": np.stack([e["pixel_values"] for e in examples]), "labels": [e["labels"] for e in examples]}


def tiny_detr():
    keras_tfm.set_seed(0)
    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                            out_features=["stage2"])
    return DetrForObjectDetection.from_config(DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, d_model=16, num_queries=3,
        encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2,
        decoder_attention_heads=2, dropout=0.0, num_labels=len(SCENE_LABELS)))


def test_batches_keep_detr_labels_as_a_list_of_dicts():
    data = rows(4)
    batch = BatchSource(tiny_detr(), data, batch_size=4, shuffle=False, collate_fn=collate).batch(
        0, return_tensors=RETURN_TENSORS, split=False)
    assert len(batch["labels"]) == 4 and backend.is_tensor(batch["pixel_values"])
    for example, target in zip(data, batch["labels"]):
        assert backend.is_tensor(target["boxes"]) and backend.is_tensor(target["class_labels"])
        np.testing.assert_allclose(backend.to_numpy(target["boxes"]), example["labels"]["boxes"])


def test_trainer_lowers_detr_loss(tmp_path):
    data, model = rows(8), tiny_detr()
    batch = collate(data)

    def loss():
        return float(backend.to_numpy(model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss))

    before = loss()
    args = TrainingArguments(str(tmp_path), learning_rate=1e-2, num_train_epochs=6, per_device_train_batch_size=8,
                             save_strategy="no", disable_tqdm=True, seed=0, remove_unused_columns=False,
                             logging_steps=1)
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
    trainer.train()
    # the first step's loss is the model's own on these labels (one batch of all 8: its order does not matter)
    np.testing.assert_allclose(trainer.state.log_history[0]["loss"], before, rtol=1e-4)
    assert loss() < 0.98 * before, (before, loss())
