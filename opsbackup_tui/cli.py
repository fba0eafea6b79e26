"""The command line: `opsbackup [tui|status|demo|...]`. Imports the Textual app only for the UI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .core.jobs import RUN_NAMES

EXIT_CONFIG = 3
EXIT_FAILED = 1
EXIT_BUSY = 75  # EX_TEMPFAIL: the same job runs elsewhere; cron may simply try again later


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsbackup",
        description="Watch and run the CRM's backups: checklist, jobs, disaster recovery.",
        epilog="Exit codes of status: 0 all OK, 1 a warning (STALE/OVERDUE/WARN), 2 a failure (FAIL/FAILED), "
               "3 configuration or internal error.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: the user config dir; env OPS_CONFIG)")
    parser.add_argument("--base", help="root of the backup tree (overrides OPS_BACKUP_BASE)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="override one setting by its TOML name, e.g. --set db_dump_stale_min=90")
    parser.add_argument("--demo", action="store_true",
                        help="use the demo tree (created or reused first); alone, opens the UI on it")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tui", help="the terminal UI (the default)")
    status = sub.add_parser("status", help="the health checklist")
    fmt = status.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine output")
    fmt.add_argument("--prom", action="store_true", help="node_exporter textfile format")
    status.add_argument("--output", type=Path, help="write to this file atomically instead of stdout")
    run = sub.add_parser("run", help="run one job (the runbook's `ops:activity NAME`)",
                         description="Exit 0 on success, 1 on failure, 75 when the same job already runs, "
                                     "130/143 when cancelled by SIGINT/SIGTERM, 3 on a configuration error.")
    run.add_argument("job", choices=RUN_NAMES)
    run.add_argument("--auto", action="store_true",
                     help="for cron: verify runs only when OPS_VERIFY_AUTO is on")
    drill = sub.add_parser("drill", help="unattended DR rehearsal: restore the newest dump into a scratch database, "
                                         "verify it, drop it, report the recovery time",
                           description="Exit 0 only on a good drill; 1 on a failed one (alerted), 75 when one runs.")
    drill.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    migrate = sub.add_parser("migrate", help="legacy migration: compress, rename, checksum old dumps into db/",
                             description="Without --dry-run: migrates; exit 0 only when every file migrated.")
    migrate.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    migrate.add_argument("--json", action="store_true", help="machine output on stdout")
    monthly = sub.add_parser("monthly", help="the monthly checklist: random dump import, size trend, restic check",
                             description="Exit 0 only when all three items pass; the report goes to reports/monthly-YYYYmm.md.")
    monthly.add_argument("--seed", type=int, help="repeat an earlier random pick")
    monthly.add_argument("--json", action="store_true", help="machine output on stdout")
    ack = sub.add_parser("ack", help="acknowledge the FAIL/alert lines of ops.log (the ops_log check turns OK)",
                         description="Marks every FAIL/alert line up to the end of ops.log as seen; prints how many.")
    ack.add_argument("--undo", action="store_true", help="take the last acknowledgement back")
    schedule = sub.add_parser("schedule", help="systemd units and timers for the jobs of the crontab example",
                              description="--print shows the units; --install writes them into the systemd "
                                          "directory and says the systemctl commands to run.")
    action = schedule.add_mutually_exclusive_group(required=True)
    action.add_argument("--print", dest="print_units", action="store_true", help="print the units, change nothing")
    action.add_argument("--install", action="store_true", help="write them (unchanged ones are left alone)")
    schedule.add_argument("--user", action="store_true", help="units for the user's systemd (systemctl --user)")
    schedule.add_argument("--unit-dir", type=Path,
                          help="where --install writes (default /etc/systemd/system, or ~/.config/systemd/user)")
    schedule.add_argument("--textfile", type=Path,
                          help="the node_exporter textfile of the status timer "
                               "(default /var/lib/node_exporter/textfile/opsbackup.prom)")
    alert = sub.add_parser("alert", help="raise an alert (ops.log and Slack) that a systemd unit failed",
                           description="For OnFailure= units. Exit 0 when the alert was delivered or no webhook "
                                       "is set (ops.log has it), 1 when the webhook failed.")
    alert.add_argument("--unit", required=True, type=_unit_name, help="the unit that failed (%%i of the template)")
    alert.add_argument("--user", action="store_true", help="the unit runs in the user's systemd")
    fleet = sub.add_parser("fleet", help="every backup host the Prometheus server knows, worst first",
                           description="Exit 0 all OK, 1 a warning, 2 a failure or a host whose textfile stopped "
                                       "updating, 3 when Prometheus cannot be read.")
    fleet.add_argument("--prometheus", metavar="URL", help="the Prometheus server (overrides OPS_PROMETHEUS_URL)")
    fleet.add_argument("--json", action="store_true", help="machine output")
    demo = sub.add_parser("demo", help="create or reuse the demo tree and its private MariaDB, then open the UI")
    demo.add_argument("--dir", type=Path, help="demo folder (default: the user data dir)")
    demo.add_argument("--stop", action="store_true", help="stop the demo's private MariaDB")
    demo.add_argument("--no-ui", action="store_true", help="prepare the demo and print its settings file; no UI")
    return parser


def _unit_name(text: str) -> str:
    from .core.schedule import UNIT_NAME_RE

    if not UNIT_NAME_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a systemd unit name")
    return text


def _flags(args: argparse.Namespace) -> dict[str, str]:
    from .core.settings import ConfigError

    flags: dict[str, str] = {}
    for item in args.overrides:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}", "expected NAME=VALUE, e.g. --set db_dump_stale_min=90")
        flags[name.strip()] = value
    if args.base is not None:
        flags["backup_base"] = args.base
    if getattr(args, "prometheus", None) is not None:
        flags["prometheus_url"] = args.prometheus
    return flags


def _say(text: str) -> None:
    print(f"opsbackup: {text}", file=sys.stderr, flush=True)


def _prepare_demo(folder: Path | None) -> Path:
    from .demo import default_demo_dir, ensure_demo

    info = ensure_demo(folder or default_demo_dir(), say=_say)
    for note in info.notes:
        _say(note)
    return info.paths.config


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .core.settings import ConfigError, load_settings

    command = args.command or "tui"
    try:
        if command == "demo" and args.stop:
            from .demo import DemoPaths, default_demo_dir, stop_server

            stop_server(DemoPaths((args.dir or default_demo_dir()).expanduser().resolve()), _say)
            return 0
        config = args.config
        if command == "demo" or args.demo:
            config = _prepare_demo(getattr(args, "dir", None))
            if command == "demo" and args.no_ui:
                print(config)
                return 0
            if command == "demo":
                command = "tui"
        settings = load_settings(_flags(args), config_path=config)
    except ConfigError as exc:
        print(f"opsbackup: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (RuntimeError, OSError) as exc:
        print(f"opsbackup: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if command == "status":
        return _status(settings, args)
    if command == "ack":
        return _ack(settings, args.undo)
    if command == "run":
        return _run(settings, args.job, args)
    if command == "drill":
        return _run(settings, "drill", args)
    if command == "monthly":
        return _run(settings, "monthly", args)
    if command == "migrate":
        if args.dry_run:
            return _migrate_plan(settings, args.json)
        return _run(settings, "migrate", args)
    if command == "schedule":
        return _schedule(settings, args)
    if command == "alert":
        return _alert(settings, args.unit, args.user)
    if command == "fleet":
        return _fleet(settings, args.json)
    if command == "tui":
        import time

        from .core.overview import Prefetch

        # The checks run while Textual is imported: the first frame can show them.
        prefetch = Prefetch(settings, time.time())
        from .app import run_app

        return run_app(settings, prefetch)
    raise AssertionError(command)


def _status(settings, args: argparse.Namespace) -> int:
    from .core.checks import MetricsProbe, overall, run_checks

    try:
        probe = MetricsProbe(settings) if settings.metrics_url is not None and hasattr(os, "fork") else None
        results = run_checks(settings, metrics=probe)
    except Exception as exc:  # noqa: BLE001 - monitoring must get exit 3, not a traceback
        print(f"opsbackup: internal error while checking: {exc!r}", file=sys.stderr)
        return EXIT_CONFIG
    worst = overall(results)
    if args.json:
        text = json.dumps({"overall": worst.value, "exit_code": worst.exit_code,
                           "checks": [r.to_json() for r in results]}, indent=2) + "\n"
    elif args.prom:
        from .core.artefacts.jobrecords import read_all
        from .core.prom import render_prom

        text = render_prom(results, settings, records=read_all(settings.backup_base))
    elif args.output is None and sys.stdout.isatty():
        from .render import print_checklist

        print_checklist(results, settings, worst)
        return worst.exit_code
    else:
        from .core.checks import fix_command
        from .core.fmt import age_words, printable

        text = "".join(f"{r.id:<17} {r.status.value:<8} {age_words(r.age_seconds):>12}  {printable(r.detail)}"
                       + (f" (fix: {fix_command(r.fix)})" if r.fix else "") + "\n" for r in results)
        text += f"overall: {worst.value}\n"
    if args.output is not None:
        from .core.atomic import write_atomic
        from .core.fmt import os_error_words

        try:
            write_atomic(args.output, text, 0o644)
        except OSError as exc:
            print(f"opsbackup: {os_error_words(exc, 'cannot write')}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        sys.stdout.write(text)
    return worst.exit_code


def _ack(settings, undo: bool) -> int:
    from datetime import datetime

    from .core.opslog import acknowledge, scan_alerts, undo_acknowledge

    try:
        if undo:
            ack = undo_acknowledge(settings.state_dir, settings.log_path)
            print("the last acknowledgement is taken back" if ack is not None else "nothing to take back")
            return 0
        pending = scan_alerts(settings.log_path, settings.state_dir, settings.log_window_kib * 1024)
        acknowledge(settings.state_dir, settings.log_path, datetime.now().timestamp(), pending.end)
    except FileNotFoundError:
        print(f"opsbackup: no ops.log at {settings.log_path} yet: nothing to acknowledge", file=sys.stderr)
        return 0
    print(f"acknowledged {pending.words()}")
    return 0


def _run(settings, name: str, args: argparse.Namespace) -> int:
    import asyncio
    import signal

    if name == "verify" and args.auto and not settings.verify_auto:
        print("opsbackup: OPS_VERIFY_AUTO is off: the automatic verify does nothing", file=sys.stderr)
        return 0
    from .core.jobs import make_job
    from .core.jobs.base import run_job

    job = make_job(name, settings)
    if name == "monthly":
        job.seed = args.seed
    as_json = getattr(args, "json", False)
    if sys.stderr.isatty():
        from .render import RichJobRenderer

        renderer = RichJobRenderer()
    else:
        from .core.plain import PlainJobRenderer

        # With --json, stdout carries only the JSON document.
        renderer = PlainJobRenderer(sys.stderr if as_json else sys.stdout)
    received: list[int] = []

    async def main_task() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda sig=sig: (received.append(sig), task.cancel()))
        try:
            finished = await run_job(job, renderer)
        except asyncio.CancelledError:
            return 143 if received and received[0] == signal.SIGTERM else 130
        if as_json:
            from .core.jobs.base import result_dict

            print(json.dumps({"ok": finished.ok, "summary": finished.summary, "error": finished.error,
                              "duration_s": round(finished.duration_s, 2), **result_dict(finished.result)},
                             indent=2, default=str))
        if finished.ok:
            return 0
        return EXIT_BUSY if finished.busy else EXIT_FAILED

    with renderer:
        return asyncio.run(main_task())


def _schedule(settings, args: argparse.Namespace) -> int:
    from .core import schedule

    script = Path(sys.executable).parent / "opsbackup"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "opsbackup_tui"]
    units = schedule.render_units(program, user=args.user, config=settings.config_file,
                                  textfile=args.textfile or schedule.TEXTFILE)
    directory = args.unit_dir or (schedule.user_unit_dir() if args.user else schedule.SYSTEM_DIR)
    if args.print_units:
        for name, text in units.items():
            print(f"### {directory / name}\n{text}")
        return 0
    try:
        done = schedule.install(units, directory)
    except OSError as exc:
        where = exc.filename or directory
        hint = "use --user for your own systemd" if not args.user else "check the folder"
        print(f"opsbackup: cannot write {where}: {exc.strerror}; run as root or {hint}", file=sys.stderr)
        return EXIT_FAILED
    for item in done:
        print(f"{item.state:<9} {directory / item.name}")
    print("now run:")
    for line in schedule.next_steps(units, args.user):
        print(f"  {line}")
    return 0


def _alert(settings, unit: str, user: bool) -> int:
    from .core.alerts import raise_alert

    journal = f"journalctl {'--user ' if user else ''}-u {unit} -n 50"
    result = raise_alert(settings, f"systemd unit {unit} failed", "it exited with an error, timed out or was killed",
                         f"read {journal}, fix it, then start it again", {"unit": unit})
    if settings.slack_webhook_url is not None and not result.sent:
        print(f"opsbackup: alert for {unit} written to ops.log, Slack not reached: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"alert raised: {unit} failed (ops.log{', Slack' if result.sent else ''})")
    return 0


def _fleet(settings, as_json: bool) -> int:
    from .core.fleet import FleetError, fetch_fleet, render_plain

    if settings.prometheus_url is None:
        print("opsbackup: no Prometheus server: give --prometheus URL or set OPS_PROMETHEUS_URL", file=sys.stderr)
        return EXIT_CONFIG
    try:
        fleet = fetch_fleet(settings)
    except FleetError as exc:
        print(f"opsbackup: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(json.dumps(fleet.to_json(), indent=2) + "\n" if as_json else render_plain(fleet))
    return fleet.exit_code


def _migrate_plan(settings, as_json: bool) -> int:
    from .core.fmt import size_words
    from .core.jobs.migrate import plan_migration

    plan = plan_migration(settings)
    if as_json:
        print(json.dumps(plan.to_json(), indent=2))
        return 0
    print(f"legacy migration, dry run: {len(plan.candidates)} file(s) in {', '.join(plan.folders)}")
    print(f"dumps in db/ now: {plan.dumps_before} ({plan.missing_checksums} without .sha256)")
    for c in plan.candidates:
        target = Path(c.target).name if c.target else "-"
        print(f"- {c.source} ({size_words(c.size)}) -> {target} [{c.action}; time from {c.time_source or '-'}]")
        for problem in c.problems:
            print(f"    ! {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
