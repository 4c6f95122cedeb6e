"""`python -m finetune bench`: bench.py (settings, one worker process per measurement), worker.py (the runners), report.py (the table)."""
