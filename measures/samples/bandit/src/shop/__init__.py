"""A deliberately vulnerable toy shop backend: a fixture for Bandit (never run it)."""
