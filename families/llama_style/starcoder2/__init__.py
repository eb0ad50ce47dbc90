"""StarCoder2 (`Starcoder2ForCausalLM`: starcoder2-3b, -7b, -15b)."""
