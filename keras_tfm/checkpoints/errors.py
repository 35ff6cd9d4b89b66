"""The checkpoint error every reader, writer and loader raises for a bad weight file."""


class CheckpointError(ValueError):
    """A weight file is unreadable, corrupt, or does not fit the model.

    The message names the file and, where one is at fault, the tensor.
    """
