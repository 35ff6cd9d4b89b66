"""Build a Hugging Face Hub cache folder in the real layout, for offline hub-id tests."""

import os
import shutil


def put_in_hub_cache(cache_dir, repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567", ref="main"):
    """Copies ``folder``'s files into ``cache_dir`` as huggingface_hub stores ``repo_id``."""
    repo = os.path.join(cache_dir, "models--" + repo_id.replace("/", "--"))
    snapshot = os.path.join(repo, "snapshots", commit)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    with open(os.path.join(repo, "refs", ref), "w") as f:
        f.write(commit)
    for name in os.listdir(folder):
        shutil.copy(os.path.join(folder, name), os.path.join(snapshot, name))
    return snapshot
