"""GPT-NeoX (`GPTNeoXForCausalLM`: Pythia, GPT-NeoX-20B, RedPajama-INCITE, ...)."""
