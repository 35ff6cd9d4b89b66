"""Atomic file writes: a crash never leaves a half-written file behind."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in the folder of ``path``; renames it to ``path`` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
