"""StableLM (`StableLmForCausalLM`: stablelm-3b-4e1t, stablelm-2-1_6b, stablelm-zephyr-3b, ...)."""
