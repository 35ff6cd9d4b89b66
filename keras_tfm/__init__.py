"""keras_tfm: the Hugging Face Transformers experience on Keras 3, for PyTorch, TensorFlow and JAX."""

__version__ = "0.1.0"

from keras_tfm.auto import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    TFAutoModel,
    TFAutoModelForMaskedLM,
    TFAutoModelForQuestionAnswering,
    TFAutoModelForSequenceClassification,
    TFAutoModelForTokenClassification,
)
from keras_tfm.configuration_utils import PretrainedConfig  # noqa: E402
from keras_tfm.processing import AutoTokenizer, BatchEncoding, PreTrainedTokenizer, PreTrainedTokenizerFast  # noqa: E402
from keras_tfm.modeling_outputs import ModelOutput  # noqa: E402
from keras_tfm.modeling_utils import PreTrainedModel  # noqa: E402
from keras_tfm.models.bert import (  # noqa: E402
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from keras_tfm.models.distilbert import (  # noqa: E402
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from keras_tfm.models.roberta import (  # noqa: E402
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
)
from keras_tfm.pipelines import pipeline  # noqa: E402
