"""Trainer and TrainingArguments: HF names, checkpoints and exact resume, callbacks, parity with HF's Trainer."""

import json
import os

import keras
import numpy as np
import pytest

import keras_tfm
from keras_tfm import Trainer, TrainerCallback, TrainingArguments
from keras_tfm.checkpoints.errors import CheckpointError
from keras_tfm.training.optimization import HFSchedule
from tests.test_training_keras import tiny_config


def fixed_rows(n=16, length=8, seed=0):
    """Equal-length rows (no padding needed): the default collator stacks them."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 2, n)
    ids = rng.randint(10, 60, size=(n, length))
    ids[:, 0] = 2
    ids[:, 1] = 5 + labels
    return {"input_ids": ids.tolist(), "attention_mask": np.ones_like(ids).tolist(), "label": labels.tolist()}


def model_from(seed=0, **config):
    keras.utils.set_random_seed(seed)
    return keras_tfm.BertForSequenceClassification.from_config(tiny_config(**config))


def weights(model):
    return {k: np.asarray(v) for k, v in model.state_dict_hf().items()}


def accuracy(p):
    return {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())}


def args(tmp_path, name="out", **kwargs):
    base = dict(learning_rate=1e-2, per_device_train_batch_size=4, num_train_epochs=2, disable_tqdm=True,
                logging_steps=2, save_strategy="no")
    base.update(kwargs)
    return TrainingArguments(str(tmp_path / name), **base)


def test_training_arguments_defaults_names_and_errors():
    transformers = pytest.importorskip("transformers")
    ours = TrainingArguments("x")
    theirs = transformers.TrainingArguments("x", report_to="none")
    for name in ("per_device_train_batch_size", "learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
                 "adam_epsilon", "max_grad_norm", "num_train_epochs", "max_steps", "warmup_steps",
                 "logging_steps", "save_steps", "seed", "gradient_accumulation_steps", "save_total_limit",
                 "load_best_model_at_end", "bf16", "fp16", "eval_delay", "logging_first_step"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("eval_strategy", "save_strategy", "logging_strategy", "lr_scheduler_type"):
        assert str(getattr(ours, name)) == str(getattr(getattr(theirs, name), "value", getattr(theirs, name))), name
    with pytest.raises(TypeError, match="'learning_rte'.*did you mean 'learning_rate'"):
        TrainingArguments("x", learning_rte=1e-3)
    with pytest.raises(ValueError, match="eval_strategy"):
        TrainingArguments("x", eval_strategy="sometimes")
    with pytest.raises(ValueError, match="save_strategy == eval_strategy"):
        TrainingArguments("x", load_best_model_at_end=True, eval_strategy="epoch", save_strategy="steps")
    assert TrainingArguments("x", evaluation_strategy="epoch").eval_strategy == "epoch"  # old name accepted


@pytest.mark.parametrize("kind", ["linear", "cosine", "constant_with_warmup"])
def test_schedules_match_transformers(kind):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = transformers.get_scheduler(kind, opt, num_warmup_steps=3, num_training_steps=10)
    ours = HFSchedule(0.1, kind, 3, 10)
    for step in range(10):
        assert abs(float(keras.ops.convert_to_numpy(ours(step))) - opt.param_groups[0]["lr"]) < 1e-7, step
        opt.step()
        ref.step()


class Recorder(TrainerCallback):
    def __init__(self):
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda args, state, control, **kw: self.events.append(name)
        return super().__getattribute__(name)


def test_train_evaluate_predict_save_checkpoints_and_callbacks(tmp_path):
    recorder = Recorder()
    trainer = Trainer(model=model_from(), args=args(tmp_path, num_train_epochs=3, eval_strategy="epoch",
                                                    save_strategy="epoch", save_total_limit=2,
                                                    load_best_model_at_end=True, metric_for_best_model="accuracy"),
                      train_dataset=fixed_rows(), eval_dataset=fixed_rows(seed=1), compute_metrics=accuracy,
                      callbacks=[recorder])
    out = trainer.train()
    assert out.global_step == 12 and np.isfinite(out.training_loss)
    for event in ("on_init_end", "on_train_begin", "on_epoch_begin", "on_step_begin", "on_step_end", "on_log",
                  "on_evaluate", "on_save", "on_epoch_end", "on_train_end"):
        assert event in recorder.events, event
    assert recorder.events.count("on_evaluate") == 3 and recorder.events.count("on_step_end") == 12
    out_dir = tmp_path / "out"
    checkpoints = sorted(p for p in os.listdir(out_dir) if p.startswith("checkpoint-"))
    best = trainer.state.best_model_checkpoint
    assert len(checkpoints) <= 3 and "checkpoint-12" in checkpoints and os.path.basename(best) in checkpoints
    assert not [p for p in os.listdir(out_dir) if p.startswith("tmp-")]
    files = set(os.listdir(out_dir / "checkpoint-12"))
    assert {"config.json", "model.safetensors", "optimizer.safetensors", "scheduler.json", "rng_state.safetensors",
            "trainer_state.json"} <= files
    state = json.load(open(out_dir / "checkpoint-12" / "trainer_state.json"))
    assert state["global_step"] == 12 and any("eval_accuracy" in e for e in state["log_history"])
    log = [json.loads(line) for line in open(out_dir / "trainer_log.jsonl")]
    assert any("loss" in e and "learning_rate" in e for e in log) and "train_runtime" in log[-1]
    metrics = trainer.evaluate()
    assert metrics["eval_accuracy"] == trainer.state.best_metric  # best model loaded at the end
    pred = trainer.predict(fixed_rows(seed=1))
    assert pred.predictions.shape == (16, 2) and pred.label_ids.shape == (16,) and "test_loss" in pred.metrics
    trainer.save_model(tmp_path / "final")
    again = keras_tfm.AutoModelForSequenceClassification.from_pretrained(tmp_path / "final")
    for k, v in weights(trainer.model).items():
        np.testing.assert_array_equal(v, weights(again)[k])


def test_compute_loss_override_and_early_stopping(tmp_path):
    class DoubleLoss(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = keras.ops.cast(outputs.logits, "float32")
            loss = 2.0 * keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
            return (loss, outputs) if return_outputs else loss

    plain = Trainer(model=model_from(), args=args(tmp_path, "a", max_steps=1, logging_steps=1, learning_rate=0.0),
                    train_dataset=fixed_rows())
    doubled = DoubleLoss(model=model_from(), args=args(tmp_path, "b", max_steps=1, logging_steps=1, learning_rate=0.0),
                         train_dataset=fixed_rows())
    assert abs(doubled.train().training_loss - 2 * plain.train().training_loss) < 1e-5

    stopper = keras_tfm.EarlyStoppingCallback(early_stopping_patience=1)
    trainer = Trainer(model=model_from(), args=args(tmp_path, "c", learning_rate=0.0, num_train_epochs=10,
                                                    eval_strategy="epoch", metric_for_best_model="loss"),
                      train_dataset=fixed_rows(), eval_dataset=fixed_rows(), callbacks=[stopper])
    trainer.train()
    assert trainer.state.global_step == 8  # lr 0: no improvement after the first evaluation, stop after the second


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    # Dropout on, shuffling on, gradient accumulation, warmup + cosine schedule, weight decay: all state must resume.
    settings = dict(num_train_epochs=3, save_strategy="steps", save_steps=3, gradient_accumulation_steps=2,
                    per_device_train_batch_size=2, warmup_steps=2, lr_scheduler_type="cosine", weight_decay=0.1,
                    learning_rate=3e-3)
    drop = dict(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.1)
    full = Trainer(model=model_from(**drop), args=args(tmp_path, "full", **settings), train_dataset=fixed_rows())
    full.train()
    assert full.state.global_step == 12
    expected = weights(full.model)

    class Crash(TrainerCallback):  # the run stops after step 6 (and its checkpoint), as if killed
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step >= 6

    first = Trainer(model=model_from(**drop), args=args(tmp_path, "part", **settings), train_dataset=fixed_rows(),
                    callbacks=[Crash()])
    first.train()
    assert first.state.global_step == 6
    # A fresh process starts from a fresh model (another init); True: the latest checkpoint of output_dir.
    resumed = Trainer(model=model_from(seed=7, **drop), args=args(tmp_path, "part", **settings),
                      train_dataset=fixed_rows())
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 12
    for k, v in weights(resumed.model).items():
        np.testing.assert_allclose(v, expected[k], atol=1e-6, err_msg=k)


def test_resume_from_the_last_checkpoint_trains_no_further_step(tmp_path):
    settings = dict(max_steps=6, save_strategy="steps", save_steps=3)
    full = Trainer(model=model_from(), args=args(tmp_path, "run", **settings), train_dataset=fixed_rows())
    full.train()
    resumed = Trainer(model=model_from(seed=7), args=args(tmp_path, "run", **settings), train_dataset=fixed_rows())
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 6
    for k, v in weights(resumed.model).items():
        np.testing.assert_array_equal(v, weights(full.model)[k], err_msg=k)


def test_bad_input(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="afile.*is a file"):
        Trainer(model=model_from(), args=TrainingArguments(str(tmp_path / "afile")))
    with pytest.raises(ValueError, match="no 'input_ids' column"):
        Trainer(model=model_from(), args=args(tmp_path), train_dataset={"text": ["a"] * 8, "label": [0] * 8}).train()
    bad = fixed_rows()
    bad["label"][2] = 5
    with pytest.raises(ValueError, match="label 5, out of range"):
        Trainer(model=model_from(), args=args(tmp_path), train_dataset=bad).train()

    trainer = Trainer(model=model_from(), args=args(tmp_path, "ck", max_steps=2, save_strategy="steps", save_steps=2),
                      train_dataset=fixed_rows())
    trainer.train()
    ck = tmp_path / "ck" / "checkpoint-2"
    with open(ck / "model.safetensors", "r+b") as f:  # corrupt the weights
        f.seek(8)
        f.write(b"garbage!" * 4)
    with pytest.raises(CheckpointError, match="checkpoint-2"):
        Trainer(model=model_from(), args=args(tmp_path, "ck", max_steps=4), train_dataset=fixed_rows()).train(
            resume_from_checkpoint=str(ck))
    os.remove(ck / "optimizer.safetensors")
    with pytest.raises(CheckpointError, match="incomplete.*optimizer.safetensors"):
        Trainer(model=model_from(), args=args(tmp_path, "ck", max_steps=4), train_dataset=fixed_rows()).train(
            resume_from_checkpoint=str(ck))
    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(model=model_from(), args=args(tmp_path, "empty"), train_dataset=fixed_rows()).train(
            resume_from_checkpoint=True)


def test_crash_mid_save_leaves_no_half_checkpoint(tmp_path, monkeypatch):
    import safetensors.numpy

    trainer = Trainer(model=model_from(), args=args(tmp_path, "crash", max_steps=2, save_strategy="steps",
                                                    save_steps=2), train_dataset=fixed_rows())

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.train()
    assert not (tmp_path / "crash" / "checkpoint-2").exists()


def test_gradient_accumulation_equals_the_larger_batch(tmp_path):
    big = Trainer(model=model_from(), args=args(tmp_path, "big", per_device_train_batch_size=8, max_steps=2,
                                                weight_decay=0.01), train_dataset=fixed_rows())
    big.train()
    small = Trainer(model=model_from(), args=args(tmp_path, "small", per_device_train_batch_size=4, max_steps=2,
                                                  gradient_accumulation_steps=2, weight_decay=0.01),
                    train_dataset=fixed_rows())
    small.train()
    for k, v in weights(small.model).items():
        np.testing.assert_allclose(v, weights(big.model)[k], atol=1e-5, err_msg=k)


def test_one_step_matches_transformers_trainer(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    config = transformers.BertConfig(**tiny_config().to_dict())
    torch.manual_seed(0)
    hf_model = transformers.BertForSequenceClassification(config)
    hf_model.save_pretrained(tmp_path / "init")
    rows = fixed_rows(8)
    settings = dict(max_steps=1, per_device_train_batch_size=8, learning_rate=1e-2, weight_decay=0.1,
                    max_grad_norm=0.5, warmup_steps=0, logging_steps=1, save_strategy="no", disable_tqdm=True,
                    report_to="none")
    hf_trainer = transformers.Trainer(model=hf_model, args=transformers.TrainingArguments(
        str(tmp_path / "hf"), use_cpu=True, **settings), train_dataset=datasets.Dataset.from_dict(rows))
    hf_out = hf_trainer.train()
    ours = Trainer(model=keras_tfm.BertForSequenceClassification.from_pretrained(tmp_path / "init"),
                   args=TrainingArguments(str(tmp_path / "ours"), **settings), train_dataset=rows)
    out = ours.train()
    assert abs(out.training_loss - hf_out.training_loss) < 1e-5
    theirs = {k: v.detach().numpy() for k, v in hf_model.state_dict().items()}
    mine = weights(ours.model)
    compared = 0
    for name, value in mine.items():
        if name in theirs:
            np.testing.assert_allclose(value, theirs[name], atol=1e-5, err_msg=name)
            compared += 1
    assert compared == len(mine)
