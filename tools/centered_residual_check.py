"""GPT-2 with a mean-zero residual stream, against Hugging Face's GPT-2: the algebra of
`families/gpt2/centering.py`, in torch (the graph itself is checked by tests/gpt2/test_parity.py).

Both c_proj layers' weights and biases are centered over their output channels and the
embedding sum is centered, so every block LayerNorm sees a mean-zero input and is computed as
an RMSNorm, its bias folded into the next projection's bias; `ln_f` stays a LayerNorm. Prints
the largest logit error relative to the largest logit, in float64 and float32, on a 4-layer
GPT-2 whose LayerNorm and bias parameters are moved off their init (docs/BENCHMARKS.md, "What
the GPT-2 graph does to be fast"). `--uncentered` leaves the weights as they are: the wrong case.

    python tools/centered_residual_check.py [--uncentered]
"""

from __future__ import annotations

import argparse

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def centered(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A Conv1D ([in, out]) whose every output has mean zero over the output channels."""
    return weight - weight.mean(dim=1, keepdim=True), bias - bias.mean()


def centered_logits(model: GPT2LMHeadModel, ids: torch.Tensor, center: bool) -> torch.Tensor:
    t, cfg = model.transformer, model.config
    keep = centered if center else (lambda w, b: (w, b))
    h = t.wte(ids) + t.wpe(torch.arange(ids.shape[1]))
    if center:
        h = h - h.mean(-1, keepdim=True)
    for block in t.h:
        attn, mlp = block.attn, block.mlp
        bias = attn.c_attn.bias + block.ln_1.bias @ attn.c_attn.weight
        q, k, v = (
            rms_norm(h, block.ln_1.weight, block.ln_1.eps) @ attn.c_attn.weight + bias
        ).split(cfg.n_embd, -1)
        heads = lambda z: z.view(*z.shape[:2], cfg.n_head, -1).transpose(1, 2)  # noqa: E731
        o = torch.nn.functional.scaled_dot_product_attention(
            heads(q), heads(k), heads(v), is_causal=True
        )
        weight, out_bias = keep(attn.c_proj.weight, attn.c_proj.bias)
        h = h + o.transpose(1, 2).reshape(h.shape) @ weight + out_bias
        bias = mlp.c_fc.bias + block.ln_2.bias @ mlp.c_fc.weight
        z = mlp.act(rms_norm(h, block.ln_2.weight, block.ln_2.eps) @ mlp.c_fc.weight + bias)
        weight, out_bias = keep(mlp.c_proj.weight, mlp.c_proj.bias)
        h = h + z @ weight + out_bias
    return model.lm_head(t.ln_f(h))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--uncentered", action="store_true", help="the wrong case: weights as stored")
    args = p.parse_args()
    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=4,
        n_embd=64,
        n_head=4,
        vocab_size=300,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "ln" in name or "bias" in name:
                param.add_(0.5 * torch.randn_like(param))
        ids = torch.randint(0, config.vocab_size, (2, 40))
        for dtype in (torch.float64, torch.float32):
            model.to(dtype)
            reference = model(ids).logits
            logits = centered_logits(model, ids, center=not args.uncentered)
            error = (logits - reference).abs().max() / reference.abs().max()
            print(f"{dtype}: relative logit error {error.item():.2g}")


if __name__ == "__main__":
    main()
