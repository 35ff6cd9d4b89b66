"""Each architecture's conversion tables as one object, registered by ``model_type``.

An architecture's ``convert_<arch>.py`` lists its rules and the exceptions HF's TF and Flax
classes made to the generic naming, then registers them once::

    TABLES = register_conversion(ConversionTables(backbone=BACKBONE, heads={...}, tf_renames=...), "bert")

Checkpoint code finds them with ``conversion_tables(model_type)``; a model_type keras_tfm does
not implement gets the empty tables (generic naming only), so a checkpoint of any
architecture still converts file to file.
"""

import re


class ConversionTables:
    """The conversion tables of one architecture.

    Args:
        backbone: ``Rule``s of the base model, relative to it.
        heads: ``{head name: [Rule]}``, each relative to its task model.
        tf_renames / flax_renames: ``[(regex, replacement)]`` applied to the generic TF / Flax
            name when writing (HF's TF BERT: ``word_embeddings/embeddings:0`` -> ``.../weight:0``).
        tf_expand: regexes on PyTorch names of 1-D tensors HF's TF class stored as (1, n)
            (read back generically: a 2-D TF ``bias`` with a leading 1 is squeezed).
        kinds / tf_kinds / flax_kinds: ``[(regex on the PyTorch name, kind)]`` overriding the kind
            ``naming.classify`` finds (GPT-2's ``Conv1D`` weight: ``"param"`` in TF, ``"linear"`` in Flax).
        tf_shared_embeddings: ``[(TF head layer, embeddings prefix)]``: a head that holds the input
            embeddings lists them again in a single-file ``tf_model.h5``, as HF's TF models wrote it.
        convert_through_model: the formats differ by more than renames and transposes (a fused
            tensor split one way, a reshape), so ``convert`` goes through the model.
        pt_renames: ``[(suffix in TF / Flax files, suffix in HF 5's PyTorch names)]``: tensors whose
            PyTorch name changed after HF's TF and Flax classes were written (torch's weight-norm
            parametrization: ``conv.weight_g`` -> ``conv.parametrizations.weight.original0``); read
            from TF / Flax under the new name, written there under the old one.
        tf_reversed: suffixes of PyTorch names whose TF tensor holds the PyTorch one with its axes
            reversed where the generic rules see no kernel (TF Wav2Vec2's weight-norm magnitude).
        tf_tied_copies: ``[(PyTorch name, the PyTorch name it is tied to)]``: a linear weight PyTorch
            ties (and does not save) that HF's TF class keeps as a layer of its own (TF BLIP's
            ``cls.predictions.decoder``); written to TF files as a copy of the tensor it is tied to.
        tf_read_renames: ``[(regex, replacement)]`` on the PyTorch names read from a TF file, undoing
            a ``tf_renames`` entry the generic reading does not (a VisionEncoderDecoder's
            ``encoder/vit/`` level: ``encoder.vit.`` -> ``encoder.``).
    """

    def __init__(self, backbone=(), heads=None, *, tf_renames=(), flax_renames=(), tf_expand=(), kinds=(),
                 tf_kinds=(), flax_kinds=(), tf_shared_embeddings=(), convert_through_model=False, pt_renames=(),
                 tf_reversed=(), tf_tied_copies=(), tf_read_renames=()):
        self.backbone = list(backbone)
        self.heads = {name: list(rules) for name, rules in (heads or {}).items()}
        self.tf_renames, self.flax_renames = list(tf_renames), list(flax_renames)
        self.tf_expand = list(tf_expand)
        self.kinds, self.tf_kinds, self.flax_kinds = list(kinds), list(tf_kinds), list(flax_kinds)
        self.tf_shared_embeddings = list(tf_shared_embeddings)
        self.convert_through_model = bool(convert_through_model)
        self.pt_renames, self.tf_reversed = list(pt_renames), tuple(tf_reversed)
        self.tf_tied_copies = list(tf_tied_copies)
        self.tf_read_renames = [(re.compile(pattern), replacement) for pattern, replacement in tf_read_renames]

    def pt_name_read(self, name, source=None):
        """The PyTorch name HF 5 uses for ``name`` as a TF / Flax file's name translates (see ``pt_renames``;
        ``source`` "tf": ``tf_read_renames`` too)."""
        if source == "tf":
            for pattern, replacement in self.tf_read_renames:
                name = pattern.sub(replacement, name)
        for old, new in self.pt_renames:
            if name.endswith(old):
                return name[: -len(old)] + new
        return name

    def pt_name_written(self, name):
        """The PyTorch name HF's TF / Flax classes knew for ``name``, before translating it to theirs."""
        for old, new in self.pt_renames:
            if name.endswith(new):
                return name[: -len(new)] + old
        return name

    def is_tf_reversed(self, name):
        """Whether the TF tensor of PyTorch name ``name`` has its axes reversed (see ``tf_reversed``)."""
        return name.endswith(self.tf_reversed) if self.tf_reversed else False

    def renames(self, target):
        """The ``(regex, replacement)`` exceptions for writing ``target`` ("tf" or "flax") names."""
        return {"tf": self.tf_renames, "flax": self.flax_renames}[target]

    def kind_overrides(self, target=None):
        """``[(compiled regex, kind)]``: the ``target``'s own overrides first, then the shared ones."""
        own = {"tf": self.tf_kinds, "flax": self.flax_kinds, None: []}[target]
        return [(re.compile(pattern), kind) for pattern, kind in [*own, *self.kinds]]

    def __repr__(self):
        return f"ConversionTables({len(self.backbone)} backbone rules, heads={sorted(self.heads)})"


EMPTY = ConversionTables()
_REGISTERED = {}  # model_type -> ConversionTables


def register_conversion(tables, *model_types):
    """Records ``tables`` for each of ``model_types`` (Mistral and Qwen2 share Llama's); returns ``tables``."""
    if not model_types:
        raise ValueError("register_conversion needs at least one model_type.")
    for model_type in model_types:
        known = _REGISTERED.get(model_type)
        if known is not None and known is not tables:
            raise ValueError(f"Conversion tables for model_type {model_type!r} are registered twice.")
        _REGISTERED[model_type] = tables
    return tables


def conversion_tables(model_type):
    """The tables registered for ``model_type``; the empty tables for an architecture keras_tfm lacks."""
    return _REGISTERED.get(model_type, EMPTY) if model_type else EMPTY
