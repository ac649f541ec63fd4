"""Jenkins as code: render and upsert the project's jobs, trigger builds, answer promotion inputs.

Parts: ``settings`` (the ``jenkins:`` section of mlci.yaml), ``client`` (python-jenkins with typed
errors, retries and the CSRF crumb), ``jobs`` (config.xml from jinja2 templates, apply/diff),
``builds`` (trigger and follow a build, pending inputs, approve, abort).

Importing this package is cheap: python-jenkins and requests load only when a client is made.
"""
