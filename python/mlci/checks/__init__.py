"""Code checks (`mlci check`): the team's own commands (lint, unit tests) as a pipeline stage.

Modules: ``settings`` (the ``checks:`` section of mlci.yaml; all that config.py imports),
``runner`` (running them in parallel process groups, checks.json and the merged JUnit XML),
``output`` (the reporters that stream each output line). Nothing is imported here, so
reading a config does not load the runner.
"""
