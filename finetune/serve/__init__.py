"""Using a trained model: inference.py (evaluate, predict, score a predictions file), export.py (a plain Hugging Face folder with a model card)."""
