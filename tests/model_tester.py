"""The shared battery every architecture gets by declaring a tiny config.

Subclass ``ModelTesterMixin`` in ``tests/test_<arch>.py`` and set:

- ``hf_config``: a function returning a tiny Hugging Face ``transformers`` config;
- ``heads``: ``{head suffix: (HF class name, keras_tfm class name, auto class name)}``;
- optionally ``uses_token_type_ids``.

Each head is checked both ways against HF transformers (PyTorch): HF saves, we load
and agree (logits and every hidden state, fp32 <= 1e-4); we save, HF loads and agrees.
"""

import numpy as np
import pytest
import torch
import transformers

import keras_tfm
from keras_tfm import backend
from keras_tfm.modeling_utils import named_variables

ATOL = 1e-4


def to_np(x):
    return np.asarray(backend.to_numpy(x))


def make_inputs(vocab_size, uses_token_type_ids, batch=3, length=9, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(5, vocab_size, (batch, length)).astype("int64")
    mask = np.ones((batch, length), "int64")
    mask[1, 6:] = 0  # right padding
    mask[2, 3:] = 0
    ids[mask == 0] = 1  # the pad id of the tiny configs
    inputs = {"input_ids": ids, "attention_mask": mask}
    if uses_token_type_ids:
        tt = np.zeros_like(ids)
        tt[:, 4:] = 1
        inputs["token_type_ids"] = tt
    return inputs


def randomise_hf_batch_norms(model, seed=0):
    """Batch norms of an HF (torch) model get random statistics and affine parameters, so that comparing
    eval-mode outputs tests them (fresh ones are the identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "running_mean", None) is not None:
                for tensor in (module.weight, module.bias, module.running_mean):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)


def randomise_batch_norms(model, seed=0):
    """The same for a keras_tfm model (every ``gamma`` / ``beta`` / ``moving_*`` variable)."""
    rng = np.random.RandomState(seed)
    for path, variable in named_variables(model).items():
        if path.rsplit(".", 1)[-1] in ("gamma", "beta", "moving_mean", "moving_variance"):
            low = 0.5 if path.endswith("moving_variance") else -0.5
            variable.assign(rng.uniform(low, low + 1.0, variable.shape).astype("float32"))


def num_labels_for(class_name):
    # Question answering heads have exactly two outputs (start, end) in HF.
    return 2 if "QuestionAnswering" in class_name else 3


def compare(ours, theirs, keys):
    worst = 0.0
    for key in keys:
        hf_value = theirs[key]
        if key in ("hidden_states", "attentions"):
            assert len(ours[key]) == len(hf_value), key
            pairs = list(zip(ours[key], hf_value))
        else:
            pairs = [(ours[key], hf_value)]
        for a, b in pairs:
            a, b = to_np(a), b.detach().numpy()
            assert a.shape == b.shape, (key, a.shape, b.shape)
            worst = max(worst, float(np.abs(a - b).max()))
    assert worst <= ATOL, f"max abs diff {worst} > {ATOL}"
    return worst


class ModelTesterMixin:
    hf_config = None
    heads = {}
    uses_token_type_ids = True
    pad_token_id = 1
    has_batch_norms = False  # randomise their statistics on both sides, so that eval-mode batch norm is compared

    def model_inputs(self, config):
        """The inputs every test runs on; vision testers return ``{"pixel_values": ...}``."""
        return make_inputs(config.vocab_size, self.uses_token_type_ids)

    def hf_model(self, hf_class_name, tmp_path):
        torch.manual_seed(0)
        config = self.hf_config()
        config.num_labels = num_labels_for(hf_class_name)
        model = getattr(transformers, hf_class_name)(config).eval()
        if self.has_batch_norms:
            randomise_hf_batch_norms(model)
        path = tmp_path / "hf"
        model.save_pretrained(path)
        return model, path

    def run_hf(self, model, inputs):
        with torch.no_grad():
            return model(**{k: torch.tensor(v) for k, v in inputs.items()}, output_hidden_states=True)

    def _heads(self):
        return list(self.heads.items())

    def test_hf_to_keras_tfm(self, tmp_path):
        for head, (hf_name, ours_name, auto_name) in self._heads():
            hf, path = self.hf_model(hf_name, tmp_path / head)
            inputs = self.model_inputs(hf.config)
            theirs = self.run_hf(hf, inputs)
            ours_model = getattr(keras_tfm, auto_name).from_pretrained(path)
            assert type(ours_model).__name__ == ours_name
            ours = ours_model(**inputs, output_hidden_states=True)
            compare(ours, theirs, [k for k in theirs.keys()])

    def test_keras_tfm_to_hf(self, tmp_path):
        for head, (hf_name, ours_name, auto_name) in self._heads():
            hf_config = self.hf_config()
            hf_config.num_labels = num_labels_for(hf_name)
            config = keras_tfm.AutoConfig.for_model(**hf_config.to_dict())
            ours_model = getattr(keras_tfm, ours_name).from_config(config)
            if self.has_batch_norms:
                randomise_batch_norms(ours_model)
            path = tmp_path / head
            ours_model.save_pretrained(path)
            hf = getattr(transformers, hf_name).from_pretrained(path).eval()
            inputs = self.model_inputs(config)
            theirs = self.run_hf(hf, inputs)
            ours = ours_model(**inputs, output_hidden_states=True)
            compare(ours, theirs, [k for k in theirs.keys()])

    def test_save_load_round_trip(self, tmp_path):
        hf_name, ours_name, auto_name = next(iter(self.heads.values()))
        hf_config = self.hf_config()
        config = keras_tfm.AutoConfig.for_model(**hf_config.to_dict())
        model = getattr(keras_tfm, ours_name).from_config(config)
        model.save_pretrained(tmp_path, max_shard_size="20KB")  # sharded on purpose
        assert (tmp_path / "model.safetensors.index.json").exists()
        again = getattr(keras_tfm, auto_name).from_pretrained(tmp_path)
        inputs = self.model_inputs(config)
        a, b = model(**inputs), again(**inputs)
        for key in a.keys():
            np.testing.assert_array_equal(to_np(a[key]), to_np(b[key]))

    def test_attentions_and_return_dict(self, tmp_path):
        hf_name, ours_name, auto_name = next(iter(self.heads.values()))
        hf, path = self.hf_model(hf_name, tmp_path)
        inputs = self.model_inputs(hf.config)
        with torch.no_grad():
            theirs = hf(**{k: torch.tensor(v) for k, v in inputs.items()}, output_attentions=True)
        model = getattr(keras_tfm, auto_name).from_pretrained(path)
        ours = model(**inputs, output_attentions=True)
        # HF's probabilities at fully padded query rows are arbitrary: compare real tokens.
        real = inputs["attention_mask"].astype(bool)
        for a, b in zip(ours.attentions, theirs.attentions):
            a, b = to_np(a), b.numpy()
            for i in range(a.shape[0]):
                np.testing.assert_allclose(a[i][:, real[i]][:, :, real[i]], b[i][:, real[i]][:, :, real[i]], atol=ATOL)
        first = model(**inputs, output_attentions=True, return_dict=False)[0]
        np.testing.assert_array_equal(to_np(first), to_np(ours.to_tuple()[0]))

    # ---- losses (appended: each head's `loss` against HF's when labels are passed) ----
    LOSS_ATOL = 1e-5

    @staticmethod
    def loss_cases(hf_class_name, inputs, vocab_size, rng):  # noqa: C901
        """[(case, HF config overrides, label kwargs)] for a head; [] for a base model."""
        if "ImageClassification" in hf_class_name:
            batch = len(inputs["pixel_values"])
            return [
                ("single_label", {"num_labels": 3}, {"labels": rng.randint(0, 3, (batch,))}),
                ("multi_label", {"num_labels": 3, "problem_type": "multi_label_classification"},
                 {"labels": rng.randint(0, 2, (batch, 3)).astype("float32")}),
            ]
        if "input_ids" not in inputs:  # a vision base model
            return []
        batch, length = inputs["input_ids"].shape
        pad = inputs["attention_mask"] == 0
        if "SequenceClassification" in hf_class_name:
            return [
                ("single_label", {"num_labels": 3}, {"labels": rng.randint(0, 3, (batch,))}),
                ("multi_label", {"num_labels": 3, "problem_type": "multi_label_classification"},
                 {"labels": rng.randint(0, 2, (batch, 3)).astype("float32")}),
                ("regression", {"num_labels": 1}, {"labels": rng.randn(batch).astype("float32")}),
            ]
        if "TokenClassification" in hf_class_name:
            labels = rng.randint(0, 3, (batch, length))
            labels[pad] = -100
            labels[0, 0] = -100
            return [("token", {"num_labels": 3}, {"labels": labels})]
        if "QuestionAnswering" in hf_class_name:
            start, end = rng.randint(0, length, (batch,)), rng.randint(0, length, (batch,))
            start[-1] = length + 3  # out of range: clamped to `length` and ignored, as HF does
            return [("span", {"num_labels": 2}, {"start_positions": start, "end_positions": end})]
        if "MaskedLM" in hf_class_name:
            labels = rng.randint(0, vocab_size, (batch, length))
            labels[(rng.rand(batch, length) < 0.5) | pad] = -100
            labels[0, 1] = 7  # at least one position counts
            return [("mlm", {}, {"labels": labels})]
        return []

    def test_losses_match_hf(self, tmp_path):
        rng = np.random.RandomState(1)
        checked = 0
        vocab_size = getattr(self.hf_config(), "vocab_size", None)
        for head, (hf_name, ours_name, auto_name) in self._heads():
            inputs = self.model_inputs(self.hf_config())
            for case, overrides, labels in self.loss_cases(hf_name, inputs, vocab_size, rng):
                torch.manual_seed(0)
                config = self.hf_config()
                for key, value in overrides.items():
                    setattr(config, key, value)
                hf = getattr(transformers, hf_name)(config).eval()
                path = tmp_path / f"{head}-{case}"
                hf.save_pretrained(path)
                with torch.no_grad():
                    theirs = hf(**{k: torch.tensor(v) for k, v in {**inputs, **labels}.items()}).loss.item()
                ours_model = getattr(keras_tfm, auto_name).from_pretrained(path)
                ours = float(to_np(ours_model(**inputs, **labels).loss))
                assert abs(ours - theirs) <= self.LOSS_ATOL, f"{head}/{case}: loss {ours} vs HF {theirs}"
                checked += 1
        assert checked or not any(k != "base" for k in self.heads)
