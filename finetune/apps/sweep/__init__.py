"""`python -m finetune sweep`: a hyperparameter study with Optuna. space.py (the `sweep:` section
checked, and a trial's key=value overrides), study.py (storage, sampler, pruner, workers, trials as
run folders, resume), report.py (trials.csv, best.yaml, plots, the table)."""
