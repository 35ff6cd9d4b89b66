import transformers

from tests.model_tester import ModelTesterMixin


def tiny_bert_config():
    return transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=37, max_position_embeddings=64, pad_token_id=1)


class TestBert(ModelTesterMixin):
    hf_config = staticmethod(tiny_bert_config)
    heads = {
        "base": ("BertModel", "BertModel", "AutoModel"),
        "sequence": ("BertForSequenceClassification", "BertForSequenceClassification", "AutoModelForSequenceClassification"),
        "token": ("BertForTokenClassification", "BertForTokenClassification", "AutoModelForTokenClassification"),
        "qa": ("BertForQuestionAnswering", "BertForQuestionAnswering", "AutoModelForQuestionAnswering"),
        "mlm": ("BertForMaskedLM", "BertForMaskedLM", "AutoModelForMaskedLM"),
    }
