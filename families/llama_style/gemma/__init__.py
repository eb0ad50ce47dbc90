"""Gemma (`GemmaForCausalLM`: gemma-2b, gemma-7b, gemma-1.1, CodeGemma)."""
