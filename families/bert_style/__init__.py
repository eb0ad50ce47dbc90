"""Encoder embedding models MAX 26.7 lacks: `--custom-architectures families.bert_style`.

Only architectures verified against Hugging Face are registered (see docs/BERT_STYLE.md).
MAX's own BertModel is left as it is.
"""

from .arch import distilbert_arch, electra_arch, roberta_arch, xlm_roberta_arch

ARCHITECTURES = [roberta_arch, xlm_roberta_arch, distilbert_arch, electra_arch]

__all__ = [
    "ARCHITECTURES",
    "distilbert_arch",
    "electra_arch",
    "roberta_arch",
    "xlm_roberta_arch",
]
