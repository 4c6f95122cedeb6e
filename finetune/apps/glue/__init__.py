"""`python -m finetune glue`: batch.py (the batch, resumable), scores.py (GLUE task scores), report.py (table, chart), submission.py (leaderboard files)."""
