"""Declarative name tables between Hugging Face PyTorch tensor names and keras_tfm variables.

An architecture lists ``Rule``s once (in its ``convert_<arch>.py``); the same table
serves loading (HF name -> variable path) and saving (variable path -> HF name). In a
pattern, ``{i}`` stands for a layer index. A rule whose keras side is None marks a
tensor we know and deliberately do not load (buffers such as ``position_ids``, weights
tied to another one). An ``optional`` rule's variable may be absent from a given model
(an lm_head that the config ties to the input embeddings): its tensor is then skipped.
"""

import re

import numpy as np


class Transform:
    """A pair of array functions: checkpoint layout -> keras layout, and back."""

    def __init__(self, name, to_keras, to_hf):
        self.name, self.to_keras, self.to_hf = name, to_keras, to_hf

    def __repr__(self):
        return self.name


IDENTITY = Transform("identity", lambda a: a, lambda a: a)
# torch Linear stores (out, in); keras Dense stores (in, out).
TRANSPOSE = Transform("transpose", np.transpose, np.transpose)


def _compile(pattern):
    escaped = re.escape(pattern).replace(r"\{i\}", r"(?P<i>\d+)")
    return re.compile(escaped + "$")


class Rule:
    def __init__(self, hf, keras, transform=IDENTITY, optional=False):
        self.hf, self.keras, self.transform, self.optional = hf, keras, transform, optional
        self._hf_re = _compile(hf)
        self._keras_re = _compile(keras) if keras is not None else None

    def match_hf(self, name):
        """(keras path or None, transform) if ``name`` matches this rule, else False."""
        m = self._hf_re.match(name)
        if not m:
            return False
        if self.keras is None:
            return None
        return self.keras.replace("{i}", m.groupdict().get("i") or "")

    def match_keras(self, path):
        m = self._keras_re.match(path) if self._keras_re is not None else None
        if not m:
            return False
        return self.hf.replace("{i}", m.groupdict().get("i") or "")


def linear(hf, keras):
    """A torch Linear <-> keras Dense: weight (transposed) and bias."""
    return [Rule(f"{hf}.weight", f"{keras}.kernel", TRANSPOSE), Rule(f"{hf}.bias", f"{keras}.bias")]


def layer_norm(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.gamma"), Rule(f"{hf}.bias", f"{keras}.beta")]


def embedding(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.embeddings")]


# Old TF-era checkpoints named LayerNorm parameters gamma/beta; HF renames them on load.
_LEGACY_SUFFIXES = {".gamma": ".weight", ".beta": ".bias"}


def modernize_name(name):
    for old, new in _LEGACY_SUFFIXES.items():
        if name.endswith(old):
            return name[: -len(old)] + new
    return name


class WeightMap:
    """The name table of one model class.

    ``backbone`` rules are relative to the base model; in a task model the base model
    sits under ``prefix`` in HF names (``bert.``) and under ``backbone.`` in keras paths.
    ``head`` rules are for the task head, relative to the top.
    """

    def __init__(self, backbone, head=(), prefix="", is_base=True):
        self.backbone, self.head, self.prefix, self.is_base = list(backbone), list(head), prefix, is_base

    def keras_path(self, hf_name):
        """Keras variable path for an HF name; None for a known, skipped tensor; False if unknown."""
        name = modernize_name(hf_name)
        p = self.prefix + "."
        if self.is_base:
            # A task checkpoint loaded into a base model: its backbone tensors carry the prefix.
            return _first(self.backbone, "match_hf", name[len(p):] if name.startswith(p) else name)
        if name.startswith(p):
            return _under_backbone(_first(self.backbone, "match_hf", name[len(p):]))
        found = _first(self.head, "match_hf", name)
        if found is False:  # a base-model checkpoint loaded into a task model
            return _under_backbone(_first(self.backbone, "match_hf", name))
        return found

    def is_optional(self, hf_name):
        """Whether the rule that maps ``hf_name`` is ``optional`` (its variable may not exist)."""
        name = modernize_name(hf_name)
        p = self.prefix + "."
        rules = self.backbone if self.is_base or name.startswith(p) else self.head + self.backbone
        name = name[len(p):] if name.startswith(p) else name
        return any(rule.optional for rule in rules if rule.match_hf(name) is not False)

    def hf_name(self, keras_path):
        """HF name for a keras variable path; raises KeyError if no rule covers it."""
        if self.is_base:
            found = _first(self.backbone, "match_keras", keras_path)
        elif keras_path.startswith("backbone."):
            found = _first(self.backbone, "match_keras", keras_path[len("backbone."):])
            found = found and f"{self.prefix}.{found}"
        else:
            found = _first(self.head, "match_keras", keras_path)
        if not found:
            raise KeyError(f"No conversion rule covers the variable {keras_path!r}.")
        return found

    def transform_for(self, keras_path):
        path = keras_path[len("backbone."):] if keras_path.startswith("backbone.") and not self.is_base else keras_path
        rules = self.backbone if (self.is_base or keras_path.startswith("backbone.")) else self.head
        for rule in rules:
            if rule.match_keras(path) is not False:
                return rule.transform
        raise KeyError(f"No conversion rule covers the variable {keras_path!r}.")


def _under_backbone(found):
    return "backbone." + found if found else found


def _first(rules, method, name):
    for rule in rules:
        found = getattr(rule, method)(name)
        if found is not False:
            return found
    return False
