"""Each architecture's checkpoint tensors to the encoder's canonical weight names, as tables.

Layouts already match (torch Linear is [out, in], as MAX's): only names differ. BERT's names
serve RoBERTa, XLM-RoBERTa and ELECTRA (each saved with or without its model prefix); DistilBERT
names the same pieces q_lin/k_lin/v_lin/out_lin, sa_layer_norm, ffn.lin1/lin2,
output_layer_norm. The BERT pooler (a tanh dense layer) is not part of a sentence embedding.
"""

from __future__ import annotations

from common.mapping import MappingTable, Row
from common.max_weights import TableAdapter


def _weight_and_bias(checkpoint: str, target: str) -> tuple[Row, Row]:
    return (
        Row(f"{checkpoint}.weight", f"{target}.weight"),
        Row(f"{checkpoint}.bias", f"{target}.bias"),
    )


_LAYER = "layers.{layer}."
_BERT_LAYER = "encoder.layer.{layer}."
_DISTILBERT_LAYER = "transformer.layer.{layer}."

BERT_TABLE = MappingTable(
    rows=(
        Row("embeddings.word_embeddings.weight", "embeddings.word.weight"),
        Row("embeddings.position_embeddings.weight", "embeddings.position.weight"),
        Row("embeddings.token_type_embeddings.weight", "embeddings.token_type.weight"),
        *_weight_and_bias("embeddings.LayerNorm", "embeddings.norm"),
        *_weight_and_bias("embeddings_project", "embeddings.project"),  # ELECTRA only
        *_weight_and_bias(_BERT_LAYER + "attention.self.query", _LAYER + "attention.q_proj"),
        *_weight_and_bias(_BERT_LAYER + "attention.self.key", _LAYER + "attention.k_proj"),
        *_weight_and_bias(_BERT_LAYER + "attention.self.value", _LAYER + "attention.v_proj"),
        *_weight_and_bias(_BERT_LAYER + "attention.output.dense", _LAYER + "attention.o_proj"),
        *_weight_and_bias(_BERT_LAYER + "attention.output.LayerNorm", _LAYER + "attention_norm"),
        *_weight_and_bias(_BERT_LAYER + "intermediate.dense", _LAYER + "mlp.up"),
        *_weight_and_bias(_BERT_LAYER + "output.dense", _LAYER + "mlp.down"),
        *_weight_and_bias(_BERT_LAYER + "output.LayerNorm", _LAYER + "mlp_norm"),
    ),
    strip_prefixes=("roberta.", "bert.", "electra."),
    ignore=("pooler.*", "embeddings.position_ids", "embeddings.token_type_ids"),
)

DISTILBERT_TABLE = MappingTable(
    rows=(
        Row("embeddings.word_embeddings.weight", "embeddings.word.weight"),
        Row("embeddings.position_embeddings.weight", "embeddings.position.weight"),
        *_weight_and_bias("embeddings.LayerNorm", "embeddings.norm"),
        *_weight_and_bias(_DISTILBERT_LAYER + "attention.q_lin", _LAYER + "attention.q_proj"),
        *_weight_and_bias(_DISTILBERT_LAYER + "attention.k_lin", _LAYER + "attention.k_proj"),
        *_weight_and_bias(_DISTILBERT_LAYER + "attention.v_lin", _LAYER + "attention.v_proj"),
        *_weight_and_bias(_DISTILBERT_LAYER + "attention.out_lin", _LAYER + "attention.o_proj"),
        *_weight_and_bias(_DISTILBERT_LAYER + "sa_layer_norm", _LAYER + "attention_norm"),
        *_weight_and_bias(_DISTILBERT_LAYER + "ffn.lin1", _LAYER + "mlp.up"),
        *_weight_and_bias(_DISTILBERT_LAYER + "ffn.lin2", _LAYER + "mlp.down"),
        *_weight_and_bias(_DISTILBERT_LAYER + "output_layer_norm", _LAYER + "mlp_norm"),
    ),
    strip_prefixes=("distilbert.",),
    ignore=("embeddings.position_ids",),
)


# RoBERTa, XLM-RoBERTa, ELECTRA (and BERT) checkpoints.
convert_bert_state_dict = TableAdapter(__name__, "BERT_TABLE")
convert_distilbert_state_dict = TableAdapter(__name__, "DISTILBERT_TABLE")
