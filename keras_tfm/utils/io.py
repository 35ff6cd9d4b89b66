"""Crash-safe writes: a process killed at any moment leaves the old file (or folder) or the new one.

``atomic_path`` writes one file under a temporary name and renames it. ``staged_folder`` does the
same for a folder of files that only make sense together (a config and its weights, a tokenizer's
three files): the new set is written into a hidden sibling folder and swapped in whole.
Files get the modes ``open`` would give them (0644 under the usual umask), not mkstemp's 0600.
"""

import contextlib
import ctypes
import functools
import os
import shutil
import sys
import tempfile
import threading

STAGE_SUFFIX = ".keras_tfm-save"
# Inside a stage until it is swapped in; a sibling stage folder without it holds the old contents.
STAGE_MARK = ".keras_tfm-staging"
_stages = threading.local()


class NotAFolderError(NotADirectoryError, ValueError):
    """A save was pointed at a file (an OSError as the model writers raise it, a ValueError as the processors')."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_modes(path, folder=False):
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in the folder of ``path``; renames it to ``path`` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        _open_modes(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def _active_stages():
    if not hasattr(_stages, "paths"):
        _stages.paths = set()
    return _stages.paths


def _exchange(a, b):
    """Swaps two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _siblings(folder):
    parent, name = os.path.split(folder)
    head = f".{name}."
    # mkdtemp's random middle has no dot: the stages of "a" are not taken for those of "a.b"
    return [os.path.join(parent, f) for f in os.listdir(parent)
            if f.startswith(head) and f.endswith(STAGE_SUFFIX) and "." not in f[len(head):-len(STAGE_SUFFIX)]
            and os.path.isdir(os.path.join(parent, f))]


def _move_subfolders(old, folder):
    """Folders inside the saved folder (a Trainer's checkpoint-N) are not staged: they move over as they are."""
    for entry in os.scandir(old):
        if entry.is_dir(follow_symlinks=False) and not os.path.exists(os.path.join(folder, entry.name)):
            os.rename(entry.path, os.path.join(folder, entry.name))


def recover_folder(folder):
    """Finishes or undoes what a killed ``staged_folder`` left beside ``folder``."""
    folder = os.path.realpath(os.fspath(folder))
    if not os.path.isdir(os.path.dirname(folder)):
        return
    siblings = _siblings(folder)
    old = [s for s in siblings if not os.path.exists(os.path.join(s, STAGE_MARK))]
    if not os.path.exists(folder) and old:  # killed between the two renames of the fallback swap
        os.rename(old.pop(), folder)
    if os.path.exists(os.path.join(folder, STAGE_MARK)):  # swapped in, mark not yet removed
        os.remove(os.path.join(folder, STAGE_MARK))
    for sibling in siblings:
        if sibling in old and os.path.isdir(folder):
            _move_subfolders(sibling, folder)
        if os.path.exists(sibling):
            shutil.rmtree(sibling, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder, keep_old_files=True):
    """Yields a hidden sibling of ``folder`` to write into; on success it replaces ``folder`` whole.

    With ``keep_old_files`` the stage starts as ``folder``'s files (hard links, so nothing is copied):
    writers replace or remove the ones they own, and the rest (a tokenizer beside a model) stays;
    writers must replace files (``atomic_path``), never write into an existing one. Folders inside
    ``folder`` are moved over after the swap. Without it the new folder holds only what was written. Killed at any moment, ``folder`` holds the complete old
    set or the complete new one; what the kill left beside it is cleaned by the next save
    (``recover_folder``). A save inside a save into the same folder (a processor saving its
    tokenizer) writes into the outer stage.
    """
    folder = os.path.realpath(os.fspath(folder))  # a symlinked folder: its target is staged and swapped
    if folder in _active_stages():
        yield folder
        return
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotAFolderError(f"save_pretrained needs a folder, but {folder!r} is a file.")
    parent, name = os.path.split(folder)
    os.makedirs(parent, exist_ok=True)
    recover_folder(folder)
    stage = tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGE_SUFFIX, dir=parent)
    try:
        _open_modes(stage, folder=True)
        open(os.path.join(stage, STAGE_MARK), "wb").close()
        if keep_old_files and os.path.isdir(folder):
            for entry in os.scandir(folder):
                if entry.is_file(follow_symlinks=False) and entry.name != STAGE_MARK:
                    try:
                        os.link(entry.path, os.path.join(stage, entry.name))
                    except OSError:  # a file system without hard links
                        shutil.copy2(entry.path, os.path.join(stage, entry.name))
        _active_stages().add(stage)
        try:
            yield stage
        finally:
            _active_stages().discard(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _swap_in(stage, folder, keep_old_files)


def _swap_in(stage, folder, keep_old_files):
    if not os.path.isdir(folder):
        os.rename(stage, folder)
    elif not _exchange(stage, folder):  # two renames: a kill between them is undone by recover_folder
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.", suffix=STAGE_SUFFIX, dir=os.path.dirname(folder))
        os.rmdir(old)
        os.rename(folder, old)
        os.rename(stage, folder)
        stage = old
    os.remove(os.path.join(folder, STAGE_MARK))
    if os.path.isdir(stage):  # the old contents
        if keep_old_files:
            _move_subfolders(stage, folder)
        shutil.rmtree(stage, ignore_errors=True)


def _in_folder(value, stage, shown):
    """Paths a writer returned, pointing into the stage, as paths in the folder the caller named."""
    if isinstance(value, (list, tuple)):
        return type(value)(_in_folder(v, stage, shown) for v in value)
    if isinstance(value, str) and value.startswith(stage + os.sep):
        return os.path.join(shown, value[len(stage) + 1:])
    return shown if isinstance(value, str) and value == stage else value


def saves_a_folder(method):
    """Decorates ``save_pretrained(self, save_directory, ...)``: the whole save goes through ``staged_folder``."""

    @functools.wraps(method)
    def save(self, save_directory, *args, **kwargs):
        folder = os.path.abspath(os.fspath(save_directory))
        with staged_folder(folder) as stage:
            result = method(self, stage, *args, **kwargs)
        return result if stage == folder else _in_folder(result, stage, os.fspath(save_directory))

    return save
