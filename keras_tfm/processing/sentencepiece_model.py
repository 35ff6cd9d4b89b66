"""Reads a SentencePiece model file (``spiece.model``) with the ``sentencepiece`` package's own proto.

Only what a ``tokenizers.Tokenizer`` needs is kept: the pieces with their scores, the unknown
piece, the precompiled normalization map and the control pieces. ``sentencepiece`` (with
``protobuf``) is an optional dependency: ``pip install "keras-tfm[sentencepiece]"``.
"""

import dataclasses

INSTALL_HINT = 'pip install "keras-tfm[sentencepiece]" (or: pip install sentencepiece protobuf)'

# sentencepiece_model.proto: TrainerSpec.ModelType and ModelProto.SentencePiece.Type.
_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
_CONTROL = 3


@dataclasses.dataclass(frozen=True)
class SentencePieceModel:
    """What a SentencePiece model file holds, for building a tokenizer.

    Attributes:
        pieces: (piece, score) in id order.
        model_type: "unigram", "bpe", "word" or "char".
        unk_id: the id of the unknown piece.
        precompiled_charsmap: the normalization map (bytes), or None when the model normalizes nothing.
        control_pieces: the control pieces (``</s>``, ``<pad>``...), in id order.
        byte_fallback: whether unknown characters become byte pieces.
    """

    pieces: list
    model_type: str
    unk_id: int
    precompiled_charsmap: bytes | None
    control_pieces: list
    byte_fallback: bool


def read_sentencepiece_model(path):
    """Parses the SentencePiece model file at ``path``.

    Raises:
        ImportError: ``sentencepiece`` or ``protobuf`` is not installed (the message says how to install them).
        ValueError: the file is not a SentencePiece model.
    """
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as e:
        raise ImportError(
            f"Reading the SentencePiece model {path!r} needs the sentencepiece and protobuf packages ({e}). "
            f"Install them: {INSTALL_HINT}; or load a folder that has a tokenizer.json."
        ) from None
    from google.protobuf.message import DecodeError

    proto = sentencepiece_model_pb2.ModelProto()
    with open(path, "rb") as f:
        data = f.read()
    try:
        proto.ParseFromString(data)
    except DecodeError as e:
        raise ValueError(f"{path!r} is not a SentencePiece model file: {e}") from None
    if not proto.pieces:
        raise ValueError(f"{path!r} is not a SentencePiece model file: it has no pieces.")
    return SentencePieceModel(
        pieces=[(p.piece, p.score) for p in proto.pieces],
        model_type=_MODEL_TYPES.get(proto.trainer_spec.model_type, str(proto.trainer_spec.model_type)),
        unk_id=proto.trainer_spec.unk_id,
        precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap or None,
        control_pieces=[p.piece for p in proto.pieces if p.type == _CONTROL],
        byte_fallback=proto.trainer_spec.byte_fallback,
    )
