"""Checkpoint files: finding them (local folder or hub cache) and reading / writing tensors."""
