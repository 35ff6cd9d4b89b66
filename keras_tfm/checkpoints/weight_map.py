"""Declarative name tables between Hugging Face PyTorch tensor names and keras_tfm variables.

An architecture lists ``Rule``s once (in its ``convert_<arch>.py``); the same table
serves loading (HF name -> variable path) and saving (variable path -> HF name). In a
pattern, ``{i}`` stands for a layer index (``{j}`` and ``{k}`` for indices nested in it:
``stages.{i}.layers.{j}``). A rule whose keras side is None marks a
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


INDICES = ("i", "j", "k")


def _compile(pattern):
    escaped = re.escape(pattern)
    for index in INDICES:
        escaped = escaped.replace(rf"\{{{index}\}}", rf"(?P<{index}>\d+)")
    return re.compile(escaped + "$")


def _fill(pattern, match):
    """``pattern`` with its index placeholders replaced by what ``match`` captured."""
    for index, value in match.groupdict().items():
        pattern = pattern.replace(f"{{{index}}}", value or "")
    return pattern


class Rule:
    """One tensor: its HF name pattern, its keras path pattern (None: known, not loaded) and transform.

    ``companions``: ``{hf name pattern: array}``, tensors written beside this one with a fixed value
    that no variable holds (a batch norm's ``num_batches_tracked`` step counter, which HF's PyTorch
    models expect).
    """

    def __init__(self, hf, keras, transform=IDENTITY, optional=False, companions=None):
        self.hf, self.keras, self.transform, self.optional = hf, keras, transform, optional
        self.companions = dict(companions or {})
        self._hf_re = _compile(hf)
        self._keras_re = _compile(keras) if keras is not None else None

    def match_hf(self, name):
        """(keras path or None, transform) if ``name`` matches this rule, else False."""
        m = self._hf_re.match(name)
        if not m:
            return False
        if self.keras is None:
            return None
        return _fill(self.keras, m)

    def match_keras(self, path):
        m = self._keras_re.match(path) if self._keras_re is not None else None
        if not m:
            return False
        return _fill(self.hf, m)

    def companions_of(self, path):
        """``{hf name: array}`` of the companions written with the variable at ``path``."""
        m = self._keras_re.match(path)
        return {_fill(pattern, m): value for pattern, value in self.companions.items()}


def linear(hf, keras):
    """A torch Linear <-> keras Dense: weight (transposed) and bias."""
    return [Rule(f"{hf}.weight", f"{keras}.kernel", TRANSPOSE), Rule(f"{hf}.bias", f"{keras}.bias")]


def layer_norm(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.gamma"), Rule(f"{hf}.bias", f"{keras}.beta")]


# torch Conv2d stores (out, in / groups, kh, kw); keras kernels are (kh, kw, in / groups, out).
CONV2D = Transform("conv2d", lambda a: np.transpose(a, (2, 3, 1, 0)), lambda a: np.transpose(a, (3, 2, 0, 1)))


CONV1D = Transform("conv1d", lambda a: np.transpose(a, (2, 1, 0)), lambda a: np.transpose(a, (2, 1, 0)))


def conv1d(hf, keras, bias=True):
    """A torch Conv1d <-> a ``layers.Conv1D``: weight (transposed to Keras' layout) and, if ``bias``, bias."""
    return [Rule(f"{hf}.weight", f"{keras}.kernel", CONV1D)] + ([Rule(f"{hf}.bias", f"{keras}.bias")] if bias else [])


def conv2d(hf, keras, bias=True):
    """A torch Conv2d <-> a ``layers.Conv2D``: weight (transposed to Keras' layout) and, if ``bias``, bias."""
    return [Rule(f"{hf}.weight", f"{keras}.kernel", CONV2D)] + ([Rule(f"{hf}.bias", f"{keras}.bias")] if bias else [])


def batch_norm(hf, keras):
    """A torch BatchNorm2d <-> a ``layers.BatchNorm``. Its step counter is not kept: read, ignored, and
    written as 0 (what torch holds outside training, and what HF loads without a warning)."""
    step_counter = {f"{hf}.num_batches_tracked": np.zeros((), "int64")}
    return [Rule(f"{hf}.weight", f"{keras}.gamma"), Rule(f"{hf}.bias", f"{keras}.beta"),
            Rule(f"{hf}.running_mean", f"{keras}.moving_mean", companions=step_counter),
            Rule(f"{hf}.running_var", f"{keras}.moving_variance"), Rule(f"{hf}.num_batches_tracked", None)]


def embedding(hf, keras):
    return [Rule(f"{hf}.weight", f"{keras}.embeddings")]


# Old TF-era checkpoints named LayerNorm parameters gamma/beta; HF renames them on load.
_LEGACY_SUFFIXES = {".gamma": ".weight", ".beta": ".bias"}


def modernize_name(name):
    for old, new in _LEGACY_SUFFIXES.items():
        if name.endswith(old):
            return name[: -len(old)] + new
    return name


class Mount:
    """Rules placed at an HF name prefix and a keras path prefix.

    ``load_prefixes`` are other HF prefixes the same tensors carry in checkpoints of a
    related class (a task checkpoint's ``bert.`` read into the base model; a base
    checkpoint's bare names read into a task model); they are read, never written.
    """

    def __init__(self, rules, hf_prefix="", keras_prefix="", load_prefixes=()):
        self.rules, self.hf_prefix, self.keras_prefix = list(rules), hf_prefix, keras_prefix
        self.load_prefixes = tuple(load_prefixes)

    def under(self, hf_prefix, keras_prefix):
        return Mount(self.rules, hf_prefix + self.hf_prefix, keras_prefix + self.keras_prefix,
                     tuple(hf_prefix + p for p in self.load_prefixes))

    def __repr__(self):
        return f"Mount({len(self.rules)} rules, hf={self.hf_prefix!r}, keras={self.keras_prefix!r})"


class WeightMap:
    """The name table of one model class: rule lists mounted at name prefixes.

    ``WeightMap(backbone, head, prefix, is_base)`` is the common shape: ``backbone``
    rules are relative to the base model; in a task model the base model sits under
    ``prefix`` in HF names (``bert.``) and under ``backbone.`` in keras paths, and
    ``head`` rules are for the task head, relative to the top. Larger models are composed
    from existing tables (``mount`` and ``compose``), e.g. an encoder-decoder::

        WeightMap.compose(
            WeightMap(convert_vit.BACKBONE).mount("encoder."),
            WeightMap(convert_gpt2.BACKBONE).mount("decoder."),
            WeightMap(LM_HEAD),  # rules at the top
        )

    Invariant: every keras path maps to one HF name and back (``hf_name`` then
    ``keras_path`` is the identity), so one table serves loading and saving.
    """

    def __init__(self, backbone=(), head=(), prefix="", is_base=True):
        self.backbone, self.head, self.prefix, self.is_base = list(backbone), list(head), prefix, is_base
        p = prefix + "." if prefix else ""
        if is_base:
            # A task checkpoint loaded into a base model: its backbone tensors carry the prefix.
            self.mounts = (Mount(self.backbone, load_prefixes=(p,) if p else ()),)
        else:
            # A base-model checkpoint loaded into a task model: its tensors carry no prefix.
            self.mounts = (Mount(self.backbone, p, "backbone.", load_prefixes=("",)), Mount(self.head))

    @classmethod
    def from_mounts(cls, mounts):
        weight_map = cls.__new__(cls)
        weight_map.backbone, weight_map.head, weight_map.prefix, weight_map.is_base = [], [], "", False
        weight_map.mounts = tuple(mounts)
        return weight_map

    @classmethod
    def compose(cls, *maps):
        """One map of several, tried in order (each already placed with ``mount``)."""
        return cls.from_mounts(m for weight_map in maps for m in weight_map.mounts)

    def mount(self, hf_prefix, keras_prefix=None):
        """This map placed under ``hf_prefix`` in HF names and ``keras_prefix`` (default: the same) in keras paths."""
        keras_prefix = hf_prefix if keras_prefix is None else keras_prefix
        return self.from_mounts(m.under(hf_prefix, keras_prefix) for m in self.mounts)

    def rule_for(self, hf_name):
        """``(rule, keras path)`` for an HF name (the path None for a known, skipped tensor); ``(None, False)`` if unknown."""
        name = modernize_name(hf_name)
        for aliases in (False, True):  # the names this class writes first, then those of related classes
            for m in self.mounts:
                for prefix in m.load_prefixes if aliases else (m.hf_prefix,):
                    if not name.startswith(prefix):
                        continue
                    rule, found = _first(m.rules, "match_hf", name[len(prefix):])
                    if rule is not None:
                        return rule, (m.keras_prefix + found if found else found)
        return None, False

    def keras_path(self, hf_name):
        """Keras variable path for an HF name; None for a known, skipped tensor; False if unknown."""
        return self.rule_for(hf_name)[1]

    def is_optional(self, hf_name):
        """Whether the rule that maps ``hf_name`` is ``optional`` (its variable may not exist)."""
        rule, _ = self.rule_for(hf_name)
        return rule is not None and rule.optional

    def _rule_for_path(self, keras_path):
        for m in self.mounts:
            if keras_path.startswith(m.keras_prefix):
                rule, found = _first(m.rules, "match_keras", keras_path[len(m.keras_prefix):])
                if found:
                    return rule, m.hf_prefix + found
        raise KeyError(f"No conversion rule covers the variable {keras_path!r}.")

    def hf_name(self, keras_path):
        """HF name for a keras variable path; raises KeyError if no rule covers it."""
        return self._rule_for_path(keras_path)[1]

    def transform_for(self, keras_path):
        return self._rule_for_path(keras_path)[0].transform

    def companions_of(self, keras_path):
        """``{hf name: array}`` written beside the variable at ``keras_path`` (see ``Rule``)."""
        for m in self.mounts:
            if keras_path.startswith(m.keras_prefix):
                rule, found = _first(m.rules, "match_keras", keras_path[len(m.keras_prefix):])
                if found:
                    rel = keras_path[len(m.keras_prefix):]
                    return {m.hf_prefix + name: value for name, value in rule.companions_of(rel).items()}
        return {}

    def __repr__(self):
        return f"WeightMap({', '.join(map(repr, self.mounts))})"


def _first(rules, method, name):
    """``(rule, what it matched)`` of the first rule matching ``name``; ``(None, False)`` if none does."""
    for rule in rules:
        found = getattr(rule, method)(name)
        if found is not False:
            return rule, found
    return None, False
