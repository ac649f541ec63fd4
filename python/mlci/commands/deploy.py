"""mlci deploy --env ENV [--model NAME@VERSION|NAME@ALIAS] [--canary|--no-canary] [--render-only DIR]
mlci deploy status [--env ENV]
mlci deploy rollback --env ENV"""

from __future__ import annotations

import argparse
from typing import Any


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="environment from the `deploy:` section of mlci.yaml")
    parser.add_argument("--model", metavar="NAME@REF",
                        help="version to deploy (NAME@3, NAME@staging); default: the environment's "
                             "`model`, else the alias named like the environment, else the latest blessed")
    parser.add_argument("--render-only", metavar="DIR",
                        help="kubernetes: write the manifests to DIR (GitOps) and apply nothing")
    canary = parser.add_mutually_exclusive_group()
    canary.add_argument("--canary", action="store_true", default=None,
                        help="docker: a canary first (the environment's `canary:` settings, else their defaults)")
    canary.add_argument("--no-canary", dest="canary", action="store_false", default=None,
                        help="docker: switch at once after the health gate, even where `canary:` is set")
    parser.add_argument("--actor", help="who deploys (default: MLCI_ACTOR, BUILD_USER_ID, the current user)")
    parser.add_argument("--reason", help="why (recorded in the deploy event)")
    sub = parser.add_subparsers(dest="action", metavar="[status|rollback]")
    status = sub.add_parser("status", help="what runs where (audit log + live state)")
    status.add_argument("--env", default=argparse.SUPPRESS, help="only this environment")
    back = sub.add_parser("rollback", help="redeploy the previously deployed version")
    back.add_argument("--env", default=argparse.SUPPRESS, help="environment to roll back")
    back.add_argument("--actor", default=argparse.SUPPRESS, help="who rolls back")
    back.add_argument("--reason", default=argparse.SUPPRESS, help="why (recorded)")


def _setup(args: argparse.Namespace) -> tuple[Any, Any]:
    from mlci import config
    from mlci.registry import Registry
    from mlci.store import open_configured

    cfg = config.load(args.config)
    return cfg, lambda name: Registry(open_configured(config=cfg), name)


def _target(env: Any) -> Any:
    if env.target == "docker":
        from mlci.deploy import docker as target
    else:
        from mlci.deploy import kubernetes as target
    return target


def run(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _status(args)
    from mlci.errors import UsageError

    if not args.env:
        raise UsageError("--env ENV is required (an environment from the `deploy:` section of mlci.yaml)")
    if args.action == "rollback":
        return _rollback(args)
    return _deploy(args)


def _deploy(args: argparse.Namespace, rollback_to: dict[str, Any] | None = None) -> int:
    from mlci import ui
    from mlci.deploy import core
    from mlci.errors import CheckFailed, UsageError
    from mlci.registry import default_actor, parse_ref

    cfg, registry_for = _setup(args)
    env = core.environment(cfg, args.env)
    name, ref = (parse_ref(args.model, "") if args.model else (cfg.name, ""))
    registry = registry_for(name)
    if rollback_to is not None:
        ref = str(rollback_to["version"])
    ref = ref or core.default_ref(registry, args.env, env)
    rel = core.release(registry, ref)
    if rollback_to is not None and rollback_to.get("digest") and rollback_to["digest"] != rel.digest:
        # roll back to exactly the image that ran before, even if the version was re-pushed since
        rel.digest = rollback_to["digest"]
        rel.repository = (rollback_to.get("image") or rel.image).split("@", 1)[0]
        rel.image = f"{rel.repository}@{rel.digest}"
    target = _target(env)
    console = ui.console() if not args.quiet else None

    def step(message: str) -> None:
        if console is not None:
            console.print(f"[dim]deploy {args.env}:[/] {message}")

    if args.render_only:
        from pathlib import Path

        if env.target != "kubernetes":
            raise UsageError(f"--render-only is for kubernetes environments; {args.env} has target {env.target}")
        from mlci.deploy import kubernetes

        paths = kubernetes.write(kubernetes.render(cfg, args.env, env, rel), Path(args.render_only))
        result = {"environment": args.env, "version": rel.version, "image": rel.image,
                  "rendered": [str(p) for p in paths]}
        if args.json:
            ui.print_json({**result, "failures": []})
        elif console is not None:
            console.print(f"[green]rendered[/] {rel.model} v{rel.version} for {args.env}: "
                          + ", ".join(str(p) for p in paths))
        return 0

    actor = getattr(args, "actor", None) or default_actor()
    reason = getattr(args, "reason", None)
    previous = core.current(registry, args.env)
    options: dict[str, Any] = {}
    canary = _canary(args, env, rollback_to is not None)
    if canary is not None:
        from mlci.deploy import canary as canaries

        def audit(canary_step: str, **fields: Any) -> None:
            registry.event("canary", environment=args.env, version=rel.version, digest=rel.digest,
                           step=canary_step, actor=actor, **fields)

        options = {"canary": canary, "audit": audit,
                   "drift": canaries.drift_check(cfg, registry, rel, env.model_copy(update={"canary": canary}))}
    try:
        outcome = target.deploy(cfg, args.env, env, rel, step, **options)
    except CheckFailed as exc:
        core.record(registry, args.env, env, rel, status="failed", actor=actor, reason=str(exc),
                    previous=previous, rollback=rollback_to is not None)
        raise
    event = core.record(registry, args.env, env, rel, status="succeeded", actor=actor, previous=previous,
                        rollback=rollback_to is not None,
                        extra={"url": outcome.get("url"), **({"note": reason} if reason else {})})
    if args.json:
        ui.print_json({**event, "result": outcome, "failures": []})  # an unhealthy deploy raises CheckFailed
    elif console is not None:
        was = f" (was v{previous['version']})" if previous else ""
        verb = "rolled back" if rollback_to is not None else "deployed"
        where = outcome.get("url") or outcome.get("deployment")
        console.print(f"[green]{verb}[/]: {rel.model} v{rel.version} -> {args.env}{was} at {where} "
                      f"[dim]{rel.digest[:19]}[/]")
    return 0


def _canary(args: argparse.Namespace, env: Any, rollback: bool) -> Any:
    """The canary settings for this deploy, or None (a rollback goes straight back)."""
    from mlci.errors import UsageError

    wanted = getattr(args, "canary", None)
    if wanted is False or rollback or (wanted is None and env.canary is None):
        return None
    if env.target != "docker":
        raise UsageError(f"--canary is for docker environments; {args.env} has target {env.target} "
                         "(docs/deploy.md: canaries on Kubernetes)")
    from mlci.deploy.settings import Canary

    return env.canary or Canary()


def _rollback(args: argparse.Namespace) -> int:
    from mlci.deploy import core

    cfg, registry_for = _setup(args)
    core.environment(cfg, args.env)
    name = args.model.partition("@")[0] if args.model else cfg.name
    target = core.rollback_target(registry_for(name), args.env)
    args.model = name
    return _deploy(args, rollback_to=target)


def _status(args: argparse.Namespace) -> int:
    from mlci import ui
    from mlci.deploy import core

    cfg, registry_for = _setup(args)
    names = [args.env] if getattr(args, "env", None) else sorted(cfg.deploy)
    for n in names or [""]:
        core.environment(cfg, n)
    name = args.model.partition("@")[0] if args.model else cfg.name
    registry = registry_for(name)
    rows = []
    for n in names:
        env = cfg.deploy[n]
        events = core.deploy_events(registry, n)
        stack = core.deployed_stack(events)
        cur = stack[-1] if stack else None
        last = events[-1] if events else None
        live = _target(env).state(n, env, name)
        rows.append({"environment": n, "target": env.target,
                     "version": cur.get("version") if cur else None,
                     "digest": cur.get("digest") if cur else None,
                     "deployed": cur.get("time") if cur else None, "actor": cur.get("actor") if cur else None,
                     "previous": stack[-2].get("version") if len(stack) > 1 else None,
                     "last_attempt": ({"version": last.get("version"), "status": last.get("status"),
                                       "reason": last.get("reason"), "time": last.get("time")} if last else None),
                     "live": live})
    if args.json:
        ui.print_json({"model": name, "environments": rows})
        return 0
    table_rows = []
    for r in rows:
        live = r["live"]
        live_text = live.get("state", "")
        if live.get("version") and str(live.get("version")) != str(r["version"]):
            live_text += f" (runs v{live['version']})"
        last = r["last_attempt"]
        note = f"v{last['version']} failed: {last['reason']}" if last and last["status"] == "failed" else ""
        table_rows.append([r["environment"], r["target"], f"v{r['version']}" if r["version"] else "-",
                           (r["digest"] or "")[:19], r["deployed"] or "", r["actor"] or "", live_text, note])
    ui.table(f"{name}: deployments", ["env", "target", "version", "digest", "deployed", "by", "live", "last failure"],
             table_rows)
    return 0
