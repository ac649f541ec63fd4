"""`mlci site`: a static model catalog written from the store, for Jenkins' HTML Publisher.

  collect.py  reads the registry's records with one listing and only the records that
              changed since the last build (a cache beside the pages)
  svg.py      small inline SVG charts (metric trends), no JavaScript, no matplotlib
  render.py   the pages (index, one per model, one comparison per version), written only
              when their content changed, with one stylesheet file (mlci.css)
"""

from mlci.site.render import build

__all__ = ["build"]
