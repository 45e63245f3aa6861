"""envmon alerts list|ack|resolve|retry|health|check-channels: the duty officers' and operators' commands.

    envmon alerts list [--all] [--section ID] [--outbox] [--json]
    envmon alerts ack EPISODE --by NAME [--comment TEXT]
    envmon alerts resolve EPISODE --by NAME [--comment TEXT]
    envmon alerts retry [--failed] [--json]
    envmon alerts health [--older-than MINUTES] [--json]
    envmon alerts check-channels [--send | --no-send] [--required | --not-required] [--json]

Imports nothing heavy until a command runs (the CLI's parser is built on every call)."""
from __future__ import annotations

import json
import sys

COMMAND = "alerts"


def add_parsers(commands) -> None:
    alerts = commands.add_parser(COMMAND, help="alert episodes: list, acknowledge, resolve; retry pending deliveries; "
                                               "the backlog (health); the channels' check (check-channels)",
                                 description="Episodes of cross-boundary sections out of their target, the duty "
                                             "officers' acknowledgements, and the outbox of their notices.")
    actions = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = actions.add_parser("list", help="open episodes (--all: every one), newest first")
    listing.add_argument("--all", action="store_true", help="resolved, withdrawn and merged episodes too")
    listing.add_argument("--section", help="one section id")
    listing.add_argument("--outbox", action="store_true", help="also the deliveries not sent (pending, held, failed)")
    listing.add_argument("--json", action="store_true")
    for name, text in (("ack", "acknowledge an episode (stops its escalation)"),
                       ("resolve", "resolve an open episode by hand (its bureaus are told)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("episode", type=int, help="the episode id (envmon alerts list)")
        action.add_argument("--by", required=True, help="who: recorded in the audit trail")
        action.add_argument("--comment", help="why, or what is being done")
    retry = actions.add_parser("retry", help="send every delivery that is due, held ones included")
    retry.add_argument("--failed", action="store_true", help="queue the deliveries marked failed again first")
    retry.add_argument("--json", action="store_true")
    health = actions.add_parser("health", help="the deliveries not sent, by channel and age; exit 1 when any has "
                                               "waited too long (for monitoring)")
    health.add_argument("--older-than", type=float, metavar="MINUTES",
                        help="overdue after this long (default: the routing file's backlog_alert_minutes, 60)")
    health.add_argument("--json", action="store_true")
    check = actions.add_parser("check-channels", help="a test message through every channel; in live mode exit 1 "
                                                      "unless the operators and every bureau can be reached")
    sending = check.add_mutually_exclusive_group()
    sending.add_argument("--send", dest="send", action="store_true", default=None,
                         help="send the test messages (default: where the check is required)")
    sending.add_argument("--no-send", dest="send", action="store_false", help="check the configuration only")
    required = check.add_mutually_exclusive_group()
    required.add_argument("--required", dest="required", action="store_true", default=None,
                          help="fail on a problem whatever the mode (default: in live mode only)")
    required.add_argument("--not-required", dest="required", action="store_false",
                          help="report, never fail")
    check.add_argument("--json", action="store_true")


def run(settings, args) -> int:
    from pipelines.alerts import EpisodeNotFound

    try:
        if args.alerts_command == "list":
            return _list(settings, args)
        if args.alerts_command == "retry":
            return _retry(settings, args)
        if args.alerts_command == "health":
            return _health(settings, args)
        if args.alerts_command == "check-channels":
            return _check_channels(settings, args)
        return _act(settings, args)
    except EpisodeNotFound as error:
        print(f"envmon: {error.args[0]}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"envmon: {error}", file=sys.stderr)
        return 2


def _engine(settings):
    from warehouse import db

    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    return engine


def _iso(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else ("" if value is None else str(value))


def _list(settings, args) -> int:
    from pipelines.reference import registry
    from warehouse import alert_store

    engine = _engine(settings)
    statuses = None if args.all else ("open",)
    episodes = alert_store.list_episodes(engine, statuses, args.section)
    names = registry.sections()["name_zh"]
    rows = [{"episode_id": e["episode_id"], "section_id": e["section_id"],
             "section_name": names.get(e["section_id"], ""), "status": e["status"],
             "opened_on": _iso(e["opened_on"]), "last_failed_on": _iso(e["last_failed_on"]),
             "resolved_on": _iso(e["resolved_on"]), "worst_class": e["worst_class"], "target_class": e["target_class"],
             "days_failed": e["days_failed"], "items": [i["parameter"] for i in json.loads(e["failing_items"])],
             "acknowledged_by": e["acknowledged_by"], "acknowledged_at": _iso(e["acknowledged_at"]),
             "escalated_at": _iso(e["escalated_at"]),
             "actions": [{"action": a["action"], "actor": a["actor"], "at": _iso(a["acted_at"]), "comment": a["comment"]}
                         for a in alert_store.actions_of(engine, e["episode_id"])]}
            for e in episodes]
    outbox = [{"delivery_id": d["delivery_id"], "notice": d["notice_key"], "recipient": d["recipient_id"],
               "status": d["status"], "attempts": d["attempts"], "not_before": _iso(d["not_before"]),
               "last_error": d["last_error"]}
              for d in alert_store.deliveries(engine, ("pending", "sending", "held", "failed"))] if args.outbox else None
    if args.json:
        print(json.dumps({"episodes": rows, **({"outbox": outbox} if outbox is not None else {})}, ensure_ascii=False))
        return 0
    if not rows:
        print("no open episodes" if not args.all else "no episodes")
    for r in rows:
        acknowledged = f"acknowledged by {r['acknowledged_by']} {r['acknowledged_at']}" if r["acknowledged_by"] \
            else "not acknowledged"
        ended = f" … {r['resolved_on']}" if r["resolved_on"] else ""
        print(f"#{r['episode_id']} {r['status']:9} {r['section_name']} ({r['section_id']}) since {r['opened_on']}{ended}: "
              f"{r['worst_class']} / target {r['target_class']}, {r['days_failed']} days failed, "
              f"items {', '.join(r['items']) or '-'}; {acknowledged}"
              + (f"; escalated {r['escalated_at']}" if r["escalated_at"] else ""))
        for action in r["actions"]:
            print(f"    {action['at']} {action['action']} by {action['actor']}: {action['comment'] or ''}")
    for d in outbox or []:
        print(f"delivery {d['delivery_id']} {d['status']} to {d['recipient']} ({d['notice']}), "
              f"{d['attempts']} attempts{', not before ' + d['not_before'] if d['not_before'] else ''}"
              f"{': ' + d['last_error'] if d['last_error'] else ''}")
    return 0


def _act(settings, args) -> int:
    from pipelines import alerts
    from warehouse import security_audit

    engine = _engine(settings)
    if args.alerts_command == "ack":
        episode = alerts.acknowledge(engine, args.episode, args.by, args.comment)
        # the security audit log has it too, with who ran the command
        security_audit.record(engine, "acknowledgement", args.by.strip(), security_audit.cli_address(),
                              f"episode {args.episode}")
        print(f"episode {args.episode} acknowledged by {args.by}"
              + ("" if episode["acknowledged_by"] == args.by.strip() else
                 f" (first acknowledged by {episode['acknowledged_by']})"))
        return 0
    routing = alerts.load_routing(settings)
    episode = alerts.resolve(engine, routing, args.episode, args.by, args.comment)
    delivered = alerts.deliver(settings, routing)
    print(f"episode {args.episode} resolved by {args.by} on {episode['resolved_on']}; "
          f"notices sent {delivered.sent}, held {delivered.held}, retrying {delivered.retrying}, failed {delivered.failed}")
    return 0


def _retry(settings, args) -> int:
    from pipelines import alerts
    from warehouse import alert_store

    engine = _engine(settings)
    requeued = alert_store.requeue_failed(engine) if args.failed else 0
    summary = alerts.deliver(settings)
    result = {"requeued": requeued, "sent": summary.sent, "held": summary.held, "retrying": summary.retrying,
              "failed": summary.failed, "deferred": summary.deferred, "errors": summary.errors}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"sent {summary.sent}, held {summary.held} (channel not configured), retrying {summary.retrying}, "
              f"failed {summary.failed}, deferred {summary.deferred} (quiet hours or rate)"
              + (f"; {requeued} failed ones queued again" if requeued else ""))
        for error in summary.errors:
            print(f"  {error}")
    return 0 if not summary.failed else 1



def _health(settings, args) -> int:
    from pipelines import alerts
    from pipelines.alerts import health

    routing = alerts.load_routing(settings)
    minutes = args.older_than if args.older_than is not None else routing.backlog_alert_minutes
    report = health.backlog(_engine(settings), minutes)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print("\n".join(health.describe(report)))
    return 1 if report["overdue"] else 0


def _check_channels(settings, args) -> int:
    from pipelines import alerts
    from pipelines.alerts import health

    required = settings.source_mode == "live" if args.required is None else args.required
    send = required if args.send is None else args.send
    report = health.check_channels(settings, alerts.load_routing(settings), send=send)
    report["required"] = required
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for r in report["recipients"]:
            state = ("ok, test message accepted" if r["tested"] else "configured") if r["ok"] else r["reason"]
            print(f"{r['recipient_id']}: {state}")
        second = report["second_path"]
        print(f"operators' second path: " + (f"{second['kind']} {second['target']}, "
                                             + ("test message accepted" if second["tested"] else "configured")
                                             if second["ok"] else second["reason"]))
    if not required:
        if settings.smtp is None:
            print(f"{settings.source_mode} mode: no SMTP server (ENVMON_SMTP_HOST), so e-mail alerts are written to "
                  f"{settings.outbox_dir} as .eml files and held; working channels are required in live mode only",
                  file=sys.stderr)
        return 0
    for problem in report["problems"]:
        print(f"envmon: {problem}", file=sys.stderr)
    if report["problems"]:
        print(f"envmon: alerts would not reach a person ({len(report['problems'])} problems above); "
              "set the secrets in .env.alerts and the addresses in the routing file, see README \"Alerts\"",
              file=sys.stderr)
        return 1
    return 0
