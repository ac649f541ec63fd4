"""The catalog's pages, rendered with jinja2 and written only when their bytes changed, so a
rebuild after one new version rewrites that model's pages and the index, nothing else."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.pages import STYLESHEET, stylesheet
from mlci.site import svg
from mlci.site.collect import Catalog, Model, collect, stamp_of
from mlci.store.base import Store
from mlci.util import write_bytes

TIMELINE_EVENTS = ("register", "promote", "rollback", "image", "deploy", "gc")


@dataclass
class Written:
    pages: int = 0
    written: list[str] = field(default_factory=list)  # relative paths rewritten this time


def slug(name: str) -> str:
    """Model names are [A-Za-z0-9._-]; anything else (a corrupt key) is made safe for a path."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "_"


def _env() -> Any:
    from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("mlci", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: "—" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))
    env.filters["short"] = lambda v, n=12: "—" if not v else str(v)[:n]
    env.filters["slug"] = slug
    return env


def production_alias(model: Model) -> str | None:
    """The alias shown as production: `production` when the model has it, else its only one."""
    if "production" in model.aliases:
        return "production"
    return next(iter(sorted(model.aliases)), None)


def summary(model: Model) -> dict[str, Any]:
    """The index row of a model."""
    prod = production_alias(model)
    promotions = [e for e in model.events if e.get("event") in ("promote", "rollback")]
    last = promotions[-1] if promotions else None
    latest = model.latest
    validation = (latest or {}).get("validation") or {}
    return {"name": model.name, "slug": slug(model.name), "alias": prod,
            "production": model.aliases[prod]["version"] if prod else None,
            "latest": latest["version"] if latest else None,
            "blessed": latest.get("blessed") if latest else None,
            "last_promotion": last, "validation": validation, "problems": len(model.problems),
            "versions": len(model.versions)}


def trends(model: Model) -> list[str]:
    numbers = sorted(model.versions)
    marks = {rec["version"]: alias for alias, rec in sorted(model.aliases.items())}
    blessed = [bool(model.versions[n].get("blessed")) for n in numbers]
    out = []
    for metric in model.metric_names:
        values = [(model.versions[n].get("metrics") or {}).get(metric) for n in numbers]
        values = [v if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in values]
        out.append(svg.trend(metric, numbers, values, blessed, marks))
    return out


def comparison(model: Model, version: int) -> dict[str, Any]:
    """One version beside production: metrics with deltas, params, gates and lineage."""
    rec = model.versions[version]
    prod_alias = production_alias(model)
    base = model.versions.get(model.aliases[prod_alias]["version"]) if prod_alias else None
    metrics = []
    for name in model.metric_names:
        mine = (rec.get("metrics") or {}).get(name)
        theirs = ((base or {}).get("metrics") or {}).get(name)
        delta = mine - theirs if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) else None
        metrics.append({"name": name, "version": mine, "production": theirs, "delta": delta})

    def lineage(r: dict[str, Any] | None) -> dict[str, Any]:
        lin = (r or {}).get("lineage") or {}
        code = lin.get("code") or {}
        return {"estimator": (r or {}).get("estimator"), "params": lin.get("params") or {},
                "data": {role: (d or {}).get("sha256") for role, d in (lin.get("data") or {}).items()},
                "code": code.get("hash"), "commit": code.get("git_commit"),
                "versions": lin.get("versions") or {}}

    mine, theirs = lineage(rec), lineage(base)
    keys = sorted(set(mine["params"]) | set(theirs["params"]))
    params = [{"name": k, "version": mine["params"].get(k), "production": theirs["params"].get(k),
               "same": mine["params"].get(k) == theirs["params"].get(k)} for k in keys]
    roles = sorted(set(mine["data"]) | set(theirs["data"]))
    data = [{"role": r, "version": mine["data"].get(r), "production": theirs["data"].get(r),
             "same": mine["data"].get(r) == theirs["data"].get(r)} for r in roles]
    return {"record": rec, "base": base, "alias": prod_alias, "metrics": metrics, "params": params,
            "data": data, "mine": mine, "theirs": theirs}


def report_link(record: dict[str, Any]) -> str | None:
    """The run report archived by the build that published the version (mlciReport's output)."""
    url = (record.get("build") or {}).get("url")
    return f"{url.rstrip('/')}/artifact/.mlci/jenkins/report/report.html" if url else None


PAGES_FILE = ".mlci-site-pages.json"


def build(store: Store, out_dir: Path) -> dict[str, Any]:
    """Write the catalog into ``out_dir``; return what was read and written. A model whose
    records are all unchanged since the last build (same stamps) is not even read from the
    cache; within a changed model, only pages whose records changed are rendered."""
    import json

    from mlci import __version__

    out_dir.mkdir(parents=True, exist_ok=True)
    catalog: Catalog = collect(store, out_dir)
    env = _env()
    result = Written()
    try:
        old: dict[str, Any] = json.loads((out_dir / PAGES_FILE).read_text())
        if old.get("mlci") != __version__ or old.get("store") != store.uri:
            old = {}
    except (OSError, ValueError):
        old = {}
    old_pages: dict[str, str] = old.get("pages", {})
    old_rows: dict[str, Any] = old.get("rows", {})
    old_by_model: dict[str, list[str]] = {}  # models/<slug>.html and models/<slug>/v<N>.html by slug
    for rel in old_pages:
        parts = rel.split("/")
        if parts[0] == "models" and len(parts) in (2, 3):
            old_by_model.setdefault(parts[1].removesuffix(".html"), []).append(rel)
    pages: dict[str, str] = {}
    rows: dict[str, Any] = {}
    problems = versions = 0

    def unchanged(rel: str, stamp: str) -> bool:
        pages[rel] = stamp
        if old_pages.get(rel) == stamp and (out_dir / rel).is_file():
            result.pages += 1
            return True
        return False

    def put(rel: str, text: str) -> None:
        result.pages += 1
        path = out_dir / rel
        data = text.encode("utf-8")
        try:
            if path.read_bytes() == data:
                return
        except OSError:
            pass
        write_bytes(path, data)
        result.written.append(rel)

    put(STYLESHEET, stylesheet())
    page = env.get_template("site/model.html.j2")
    compare = env.get_template("site/compare.html.j2")
    for name in catalog.listing:
        rel = f"models/{slug(name)}.html"
        whole = stamp_of(catalog.stamps(name))
        if name in old_rows and old_pages.get(rel) == whole and (out_dir / rel).is_file():
            # nothing of this model changed: its pages and index row stand as they are
            rows[name] = old_rows[name]
            for p in old_by_model.get(slug(name), ()):
                pages[p] = old_pages[p]
                result.pages += 1
            problems += rows[name]["problems"]
            versions += rows[name]["versions"]
            continue
        model = catalog.load(name)
        rows[name] = summary(model)
        problems += len(model.problems)
        versions += len(model.versions)
        if not unchanged(rel, whole):
            listed = [model.versions[n] for n in sorted(model.versions, reverse=True)]
            timeline = [e for e in reversed(model.events) if e.get("event") in TIMELINE_EVENTS]
            put(rel, page.render(m=model, s=rows[name], versions=listed, metrics=model.metric_names,
                                 plots=trends(model), timeline=timeline, report_link=report_link,
                                 css=f"../{STYLESHEET}"))
        prod = production_alias(model)
        # a comparison depends on its version, on production's record and on the metric names
        base_keys = (model.alias_key(prod), model.version_key(model.aliases[prod]["version"])) if prod else ()
        names = ",".join(model.metric_names)
        for n in model.versions:
            rel = f"models/{slug(name)}/v{n}.html"
            if not unchanged(rel, model.stamp(model.version_key(n), *base_keys) + names):
                put(rel, compare.render(m=model, c=comparison(model, n), report_link=report_link(model.versions[n]),
                                        css=f"../../{STYLESHEET}"))
    put("index.html", env.get_template("site/index.html.j2").render(rows=list(rows.values()), store=store.uri,
                                                                      css=STYLESHEET))
    removed = []
    for rel in sorted(set(old_pages) - set(pages)):  # a collected version or a deleted model
        (out_dir / rel).unlink(missing_ok=True)
        removed.append(rel)
    write_bytes(out_dir / PAGES_FILE, json.dumps({"mlci": __version__, "store": store.uri, "pages": pages,
                                                  "rows": rows}).encode())
    return {"store": store.uri, "output": str(out_dir), "models": len(catalog.listing), "versions": versions,
            "problems": problems, "pages": result.pages, "written": result.written, "removed": removed,
            "requests": catalog.requests}
