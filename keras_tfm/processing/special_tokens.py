"""Special tokens of a tokenizer: read from tokenizer_config.json, set, added, and listed.

``SpecialTokensMixin`` gives the tokenizer ``bos_token`` ... ``mask_token`` (str) with their
``*_id`` properties, ``special_tokens_map``, ``all_special_tokens`` / ``all_special_ids``,
``add_special_tokens`` and ``add_tokens``, as ``transformers`` names them. It reads
``self._special_tokens`` (name -> str or None), ``self._extra_special_tokens`` (list of str)
and ``self._tokenizer`` (the ``tokenizers.Tokenizer``).
"""

from tokenizers import AddedToken

from keras_tfm.processing import tokenizer_builders as builders

SPECIAL_TOKENS_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


class SpecialTokensMixin:
    """The special-token API of a tokenizer (see the module docstring for what it reads)."""

    @property
    def special_tokens_map(self):
        return {name: tok for name, tok in self._special_tokens.items() if tok is not None}

    @property
    def extra_special_tokens(self):
        return list(self._extra_special_tokens)

    additional_special_tokens = extra_special_tokens

    @property
    def all_special_tokens(self):
        tokens = list(self.special_tokens_map.values()) + self._extra_special_tokens
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self):
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def add_special_tokens(self, special_tokens_dict):
        """Sets named special tokens (``{"pad_token": "[PAD]"}``) and adds the new ones; returns how many."""
        tokens = []
        for key, value in dict(special_tokens_dict).items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                if not isinstance(value, (list, tuple)):
                    raise ValueError(f"{key} must be a list of tokens, got {type(value).__name__}.")
                self._extra_special_tokens = [str(t) for t in value]
                tokens.extend(value)
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"{key} must be a str or AddedToken, got {type(value).__name__}.")
                self._special_tokens[key] = str(value)
                tokens.append(value)
            else:
                raise ValueError(
                    f"{key!r} is not a special token name; use one of {SPECIAL_TOKENS_ATTRIBUTES} "
                    "or 'additional_special_tokens'."
                )
        return self.add_tokens(tokens, special_tokens=True)

    def add_tokens(self, new_tokens, special_tokens=False):
        """Adds tokens to the vocabulary (never split); returns how many were new."""
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        for token in new_tokens:
            if not isinstance(token, (str, AddedToken)):
                raise ValueError(f"Tokens to add must be str or AddedToken, got {type(token).__name__}.")
        if special_tokens:
            new_tokens = [AddedToken(t, special=True) if isinstance(t, str) else t for t in new_tokens]
            return self._tokenizer.add_special_tokens(new_tokens)
        return self._tokenizer.add_tokens(list(new_tokens))


def _special_token_property(name):
    def get(self):
        return self._special_tokens.get(name)

    def set(self, value):
        if value is not None and not isinstance(value, (str, AddedToken)):
            raise ValueError(f"{name} must be a str (or None), got {type(value).__name__}.")
        self._special_tokens[name] = None if value is None else str(value)

    return property(get, set, doc=f"The {name.replace('_', ' ')} (a str), or None.")


def _special_id_property(name):
    def get(self):
        token = self._special_tokens.get(name)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set(self, value):
        self._special_tokens[name] = None if value is None else self._tokenizer.id_to_token(int(value))

    return property(get, set, doc=f"The id of the {name.replace('_', ' ')}, or None.")


for _name in SPECIAL_TOKENS_ATTRIBUTES:
    setattr(SpecialTokensMixin, _name, _special_token_property(_name))
    setattr(SpecialTokensMixin, _name + "_id", _special_id_property(_name))


def special_tokens_from_config(config, family):
    """Named special tokens (str) from tokenizer_config.json, over the family's defaults."""
    tokens = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
    tokens.update(builders.DEFAULT_SPECIAL_TOKENS.get(family, {}))
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        if name in config:
            value = config[name]
            tokens[name] = None if value is None else str(added_token(value))
    return tokens


def extra_special_tokens_from_config(config, family=None):
    """The unnamed special tokens (``extra_special_tokens`` / ``additional_special_tokens``), as str.

    T5 adds its ``<extra_id_N>`` sentinels when the config names none (``extra_ids`` of them).
    """
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    if isinstance(extra, dict):  # model-specific named tokens ({"image_token": "<image>"})
        extra = list(extra.values())
    extra = [str(added_token(t)) for t in extra]
    if family == builders.T5:
        extra = builders.t5_extra_special_tokens(config, extra)
    return extra


def tokens_to_register(config, family, extra_tokens):
    """Tokens to add (in transformers' order): saved added tokens, named special tokens, extras."""
    tokens = []
    for _, value in sorted((config.get("added_tokens_decoder") or {}).items(), key=lambda kv: int(kv[0])):
        tokens.append(added_token(value))
    special = special_tokens_from_config(config, family)
    for name in SPECIAL_TOKENS_ATTRIBUTES:
        if special[name] is not None:
            value = config.get(name)
            # A saved AddedToken keeps its flags (lstrip...); a plain name becomes a special token.
            keep = isinstance(value, (dict, AddedToken)) and str(added_token(value)) == special[name]
            tokens.append(added_token(value) if keep else AddedToken(special[name], special=True))
    tokens.extend(AddedToken(t, special=True) for t in extra_tokens)
    return tokens


def added_token(value):
    """A str, an AddedToken, or its JSON form ({"content": ..., "lstrip": ...}) -> AddedToken."""
    if isinstance(value, AddedToken):
        return value
    if isinstance(value, dict):
        fields = {k: value[k] for k in ("single_word", "lstrip", "rstrip", "normalized") if k in value}
        return AddedToken(value["content"], special=value.get("special", True), **fields)
    if isinstance(value, str):
        return AddedToken(value, special=True)
    raise ValueError(f"A special token must be a str or a dict with 'content', got {type(value).__name__}: {value!r}.")
