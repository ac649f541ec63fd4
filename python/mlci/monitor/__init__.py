"""Monitoring: prediction logs from the model server, live drift and live performance.

  predlog.py          the server's prediction log (sampled, buffered, rotated JSONL)
  predlog_options.py  `mlci serve` flags over the `monitor.log` section
  logs.py             reading prediction logs back (a file or a directory of them)
  drift.py            live inputs vs the model's reference statistics (mlci.validation)
  performance.py      late ground-truth labels joined to logged predictions by request id
  settings.py         the `monitor:` section of mlci.yaml

Imports stay light here: config.py imports mlci.monitor.settings.
"""
