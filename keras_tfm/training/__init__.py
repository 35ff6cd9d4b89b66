"""Training: Keras compile/fit on the model's own loss, collators, TrainingArguments and Trainer."""

from keras_tfm.training.callbacks import (  # noqa: F401
    DefaultFlowCallback,
    EarlyStoppingCallback,
    PrinterCallback,
    ProgressCallback,
    TrainerCallback,
    TrainerControl,
    TrainerState,
)
from keras_tfm.training.collators import (  # noqa: F401
    DataCollatorCTCWithPadding,
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorSpeechSeq2SeqWithPadding,
    DataCollatorWithPadding,
    DefaultDataCollator,
    default_data_collator,
)
from keras_tfm.training.optimization import AdamW, HFSchedule  # noqa: F401
from keras_tfm.training.trainer import (  # noqa: F401
    EvalPrediction,
    PredictionOutput,
    Trainer,
    TrainOutput,
    get_last_checkpoint,
    set_seed,
)
from keras_tfm.training.trainer_seq2seq import Seq2SeqTrainer  # noqa: F401
from keras_tfm.training.training_args import Seq2SeqTrainingArguments, TrainingArguments  # noqa: F401
