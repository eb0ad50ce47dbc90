"""Phi (`PhiForCausalLM`: phi-1, phi-1.5, phi-2)."""
