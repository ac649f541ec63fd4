"""mlci: CI/CD for machine-learning models on Jenkins."""

__version__ = "0.1.0"
