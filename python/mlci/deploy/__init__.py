"""Deployment: put a registered model version's image into a named environment.

  settings.py    the ``deploy:`` section of mlci.yaml (environments)
  core.py        which version and image, the deploy events in the audit log, rollback
                 targets, the smoke test against an endpoint
  docker.py      a Docker host: health-gated container replacement
  kubernetes.py  Deployment + Service manifests (jinja2), kubectl apply + rollout status
"""
