"""Importing this module imports skops the way mlci does (``mlci.model.skops_io``: without
skops' scan of every scikit-learn module). For lists that can only name modules, such as the
modules a sweep's fork server preloads."""

from mlci.model.skops import skops_io

skops_io()
