"""Model server images: build (context.py, build.py), verify (verify.py), push (push.py).

  docker.py     the Docker client: DOCKER_HOST honoured, retries, exit 3 when unreachable
  target.py     which model an image is for (a run, or NAME@VERSION|ALIAS) and where the
                image's records go (image.json, image-verify.json, image-push.json)
  wheelhouse.py the dependency wheels, built on the host once and cached (air-gapped builds)
"""
