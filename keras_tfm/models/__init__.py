"""Every architecture; importing this package fills the Auto-class registry."""

from keras_tfm.models import bert  # noqa: F401
from keras_tfm.models import distilbert  # noqa: F401
from keras_tfm.models import roberta  # noqa: F401
from keras_tfm.models import layoutlm  # noqa: F401
from keras_tfm.models import gpt2  # noqa: F401
from keras_tfm.models import llama  # noqa: F401
from keras_tfm.models import bart  # noqa: F401
from keras_tfm.models import t5  # noqa: F401
from keras_tfm.models import resnet  # noqa: F401
from keras_tfm.models import vit  # noqa: F401
from keras_tfm.models import segformer  # noqa: F401
from keras_tfm.models import detr  # noqa: F401
from keras_tfm.models import whisper  # noqa: F401
from keras_tfm.models import wav2vec2  # noqa: F401
from keras_tfm.models import vilt  # noqa: F401
from keras_tfm.models import blip  # noqa: F401
from keras_tfm.models import vision_encoder_decoder  # noqa: F401
