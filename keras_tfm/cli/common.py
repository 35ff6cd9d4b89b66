"""What the ``keras-tfm`` commands share: the usage error and JSON output of pipeline results."""

import json


class UsageError(Exception):
    """Bad usage found after argument parsing (exit code 2), e.g. an unknown task or a malformed model id."""


class CommandError(Exception):
    """The work of a command failed (exit code 1); the message says why, without a traceback."""


def to_jsonable(value):
    """``value`` with numpy arrays / scalars, tuples and PIL images made JSON-friendly (masks: size and mode)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, backend tensors
        return to_jsonable(value.tolist())
    if type(value).__module__.startswith("PIL."):
        return {"image": {"mode": value.mode, "size": list(value.size)}}
    return value


def dumps(value, **kwargs):
    """``json.dumps`` of ``to_jsonable(value)``."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, **kwargs)
