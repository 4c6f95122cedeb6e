"""The run config: schema.py (every key: type, default, meaning), load.py (YAML + overrides ->
RunConfig, checked), typed.py (dicts and strings -> dataclasses), keys.py (the key reference)."""
