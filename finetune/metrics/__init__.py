"""Metrics as pure functions: classification.py (accuracy, F1, MCC, Pearson, Spearman), squad.py (the official SQuAD v1.1 / v2.0 scripts), ner.py (conlleval), bleu.py (corpus BLEU)."""
