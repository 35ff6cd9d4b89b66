"""Every architecture; importing this package fills the Auto-class registry."""

from keras_tfm.models import bert  # noqa: F401
