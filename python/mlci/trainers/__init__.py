"""Trainers other than the built-in scikit-learn one (``model.trainer``)."""
