"""Which stages a backbone outputs: HF's ``BackboneConfigMixin`` (``out_features`` / ``out_indices``
over ``stage_names``), for configs of models that serve as another model's backbone (ResNet for DETR)."""


class BackboneConfigMixin:
    """``out_features`` (stage names) and ``out_indices`` (their positions in ``stage_names``), kept
    aligned as HF keeps them: setting one sets the other; neither given means the last stage.

    The config sets ``stage_names`` before calling ``set_output_features_output_indices``.
    """

    def set_output_features_output_indices(self, out_features=None, out_indices=None):
        names = self.stage_names
        if out_features is not None:
            out_features = list(out_features)
            unknown = [f for f in out_features if f not in names]
            if unknown:
                raise ValueError(f"out_features {unknown} are not among stage_names {names}.")
        if out_indices is not None:  # kept as given (negative ones too), as HF keeps them
            out_indices = list(out_indices)
            if any(not -len(names) <= i < len(names) for i in out_indices):
                raise ValueError(f"out_indices {out_indices} must index stage_names {names}.")
        if out_features is None and out_indices is None:
            out_indices = [len(names) - 1]
        if out_features is None:
            out_features = [names[i] for i in out_indices]
        elif out_indices is None:
            out_indices = [names.index(f) for f in out_features]
        elif out_features != [names[i] for i in out_indices]:
            raise ValueError(f"out_features {out_features} and out_indices {out_indices} name different stages.")
        positions = [i % len(names) for i in out_indices]
        if positions != sorted(set(positions)):
            raise ValueError(f"out_features / out_indices must follow stage_names' order without duplicates, "
                             f"got {out_features}.")
        self._out_features, self._out_indices = out_features, out_indices

    @property
    def out_features(self):
        return self._out_features

    @out_features.setter
    def out_features(self, out_features):
        self.set_output_features_output_indices(out_features=out_features)

    @property
    def out_indices(self):
        return self._out_indices

    @out_indices.setter
    def out_indices(self, out_indices):
        self.set_output_features_output_indices(out_indices=out_indices)

    def to_dict(self):
        out = super().to_dict()
        out["out_features"], out["out_indices"] = list(self._out_features), list(self._out_indices)
        return out
