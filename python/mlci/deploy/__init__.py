"""Deployment: put a registered model version's image into a named environment.

  settings.py    the ``deploy:`` section of mlci.yaml (environments)
  core.py        which version and image, the deploy events in the audit log, rollback
                 targets, the smoke test against an endpoint
  docker.py      a Docker host: blue/green model containers behind the proxy, health-gated
  proxy.py       the HAProxy container: its image, its configuration (the servers and their
                 weights), a switch by reload that waits for the old process to drain
  canary.py      a share of traffic to the new version, judged on its /metrics and input drift
  kubernetes.py  Deployment + Service manifests (jinja2), kubectl apply + rollout status
"""
