"""Applications built on the engine: glue/ (every GLUE task with one backbone: table, chart, leaderboard files) and bench/ (throughput beside the transformers Trainer)."""
