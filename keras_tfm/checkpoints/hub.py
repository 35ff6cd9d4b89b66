"""Resolve a file of a model given as a local folder or a Hugging Face Hub id.

Local folders are used as they are. Hub ids go through ``huggingface_hub`` so that its
cache layout, ``HF_HUB_OFFLINE``, ``revision``, ``cache_dir`` and ``token`` behave as
in Hugging Face ``transformers``.
"""

import os

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


class ModelNotFoundError(OSError):
    """A model folder or hub id cannot be found, or lacks a required file."""


def resolve_file(
    path_or_id,
    filename,
    *,
    revision=None,
    cache_dir=None,
    local_files_only=False,
    token=None,
    subfolder="",
    required=True,
):
    """Returns the local path of ``filename`` for a folder or hub id.

    Returns None when the file does not exist and ``required`` is False (the model
    exists but does not ship that file); raises ``ModelNotFoundError`` otherwise.
    """
    path_or_id = os.fspath(path_or_id)
    if os.path.isdir(path_or_id):
        path = os.path.join(path_or_id, subfolder, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise ModelNotFoundError(f"{path_or_id!r} has no file {filename!r} (looked for {path}).")
        return None
    if os.path.isfile(path_or_id):
        raise ModelNotFoundError(
            f"{path_or_id!r} is a file; pass the folder that holds config.json and the weights."
        )
    try:
        return hf_hub_download(
            path_or_id,
            filename,
            subfolder=subfolder or None,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
    except HFValidationError as e:
        raise ModelNotFoundError(
            f"{path_or_id!r} is neither a local folder nor a valid hub model id ({e})."
        ) from None
    # LocalEntryNotFoundError subclasses EntryNotFoundError: it must be caught first.
    except LocalEntryNotFoundError:
        # Offline (HF_HUB_OFFLINE=1, local_files_only=True or no network) and not cached.
        if not required and _is_cached(path_or_id, revision, cache_dir):
            return None
        raise ModelNotFoundError(
            f"Cannot find {filename!r} of {path_or_id!r}: it is not a local folder, the hub is "
            "not reachable (offline), and the file is not in the huggingface_hub cache"
            f"{' at ' + str(cache_dir) if cache_dir else ''}. Download the model on a machine "
            "with network access (hf download "
            f"{path_or_id}) and copy the cache or the folder here, or pass a local folder path."
        ) from None
    except EntryNotFoundError:
        if required:
            raise ModelNotFoundError(f"Model {path_or_id!r} has no file {filename!r}.") from None
        return None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"Model {path_or_id!r} has no revision {revision!r}.") from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"{path_or_id!r} is not a local folder and no hub model has that id "
            "(or it is private: pass token=...)."
        ) from None


def _is_cached(repo_id, revision, cache_dir):
    """Whether a snapshot of ``repo_id`` is in the cache (so a missing file is just absent)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir, revision=revision)
    return isinstance(found, str)
