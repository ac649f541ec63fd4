"""Trainers (``model.trainer``): each fits a model from the split that mlci.train prepared,
writes the model directory, and returns a ``Trained`` record. mlci.train writes everything
else a run directory holds, the same way for every trainer.

  sklearn.py    the built-in trainer: a scikit-learn Pipeline around model.estimator
  command.py    `trainer: command`: the project's own script, any framework
  container.py  `train --in-container`: the same `mlci train`, inside the agent image
"""
