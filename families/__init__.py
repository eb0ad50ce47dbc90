"""One package per model family: `--custom-architectures families.<name>`.

Importing any of them (MAX does, before it looks for weight files) lets MAX find the weights of
a checkpoint stored in float16 or bfloat16 for a float32 graph (`common.weight_discovery`).
"""

from common.weight_discovery import read_other_float_dtypes

read_other_float_dtypes()
