"""Backbones: backbones.py (aliases such as minilm / smollm2, local folders, hub ids, tokenizers), lora.py (LoRA through peft)."""
