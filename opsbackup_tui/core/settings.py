"""One typed Settings object built from flags > environment > TOML file > CRM .env > defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .fmt import mask_credentials

APP_NAME = "opsbackup"


class ConfigError(Exception):
    """A bad configuration value: names the variable, says what is wrong and what to do."""

    def __init__(self, var: str, message: str) -> None:
        super().__init__(f"{var}: {message}")
        self.var = var


class Secret:
    """A value that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --- value parsers: each takes the raw text and returns the value or raises ValueError(why) ---


def _int_in(raw: str, low: int, high: int, what: str, bounds: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(f"not a {what}") from None
    if not low <= value <= high:
        raise ValueError(bounds)
    return value


def _positive_int(raw: str) -> int:
    return _int_in(raw, 1, 2**63, "whole number", "must be greater than 0")


def _positive_float(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("not a number") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


IMPORT_JOBS_MAX = 32


def _import_jobs(raw: str) -> int:
    value = _positive_int(raw)
    if value > IMPORT_JOBS_MAX:
        raise ValueError(f"at most {IMPORT_JOBS_MAX} (each client is one more connection and server thread)")
    return value


def _default_import_jobs() -> int:
    return min(os.cpu_count() or 1, 8)


def _factor(raw: str) -> float:
    value = _positive_float(raw)
    if value < 1.0:
        raise ValueError("must be at least 1.0")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a yes/no value (use 1/0, true/false, yes/no or on/off)")


def _port(raw: str) -> int:
    return _int_in(raw, 1, 65535, "port number", "a port must be between 1 and 65535")


def _path(raw: str) -> Path:
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    if "\0" in text:
        raise ValueError("contains a NUL byte")
    return Path(os.path.expanduser(text))


def _text(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    if any(ch in text for ch in "\0\n\r"):
        raise ValueError("contains a control character")
    return text


_IDENT = re.compile(r"[A-Za-z0-9_$]{1,64}")


def _identifier(raw: str) -> str:
    text = raw.strip()
    if not _IDENT.fullmatch(text):
        raise ValueError("not a plain MySQL name (letters, digits, _ and $, at most 64)")
    return text


def _table_list(raw: str) -> tuple[str, ...]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise ValueError("lists no table")
    for name in names:
        if not _IDENT.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain table name")
    return tuple(dict.fromkeys(names))


def _path_list(raw: str) -> tuple[Path, ...]:
    return tuple(_path(part) for part in raw.split(os.pathsep) if part.strip())


def _url(raw: str) -> str:
    text = _text(raw)
    if not re.match(r"https?://[^/\s]+", text):
        raise ValueError("not an http:// or https:// URL")
    return text


def _server_url(raw: str) -> str:
    text = _url(raw).rstrip("/")
    if "@" in text.split("/", 3)[2]:
        # It would be shown in the help, errors and the fleet screen.
        raise ValueError("holds credentials (user@host); give a URL without them")
    return text


def _argv(raw: str) -> tuple[str, ...]:
    import shlex

    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise ValueError(f"cannot be split into a command ({exc})") from None
    if not argv:
        raise ValueError("is empty")
    return argv


def _subset(raw: str) -> str:
    text = raw.strip()
    if not re.fullmatch(r"(?:\d+(?:\.\d+)?%|\d+/\d+)", text):
        raise ValueError("not a restic data subset such as 10% or 1/12")
    return text


_OFF = {"0", "off", "no", "none", "false"}


def _nice(raw: str) -> int:
    text = raw.strip().lower()
    if text in _OFF:
        return 0
    return _int_in(text, 1, 19, "niceness", "a niceness must be between 1 and 19 (0 or off: unchanged)")


def _ionice(raw: str) -> str:
    text = raw.strip().lower()
    if text in _OFF:
        return "off"
    if text == "idle":
        return "idle"
    name, _, level = text.partition(":")
    if name != "best-effort":
        raise ValueError("not an I/O class (idle, best-effort, best-effort:0 to best-effort:7, or off)")
    return f"best-effort:{_int_in(level or '7', 0, 7, 'best-effort level', 'a best-effort level must be 0 to 7')}"


def _secret(raw: str) -> Secret:
    if "\0" in raw:
        raise ValueError("contains a NUL byte")
    return Secret(raw)


def _secret_url(raw: str) -> Secret:
    try:
        return Secret(_url(raw))
    except ValueError:
        # The value is a secret: say what is wrong without echoing it.
        raise ValueError("not an http:// or https:// URL") from None


@dataclass(frozen=True)
class Var:
    """How one setting is named, parsed and documented."""

    name: str
    env: tuple[str, ...]
    parse: Callable[[str], Any]
    default: Any
    doc: str
    secret: bool = False
    crm_env: str | None = None  # the Laravel .env key that can supply it
    must_be: str | None = None  # "dir" or "file": what the path must be when it exists


def _default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME))


VARS: tuple[Var, ...] = (
    Var("backup_base", ("OPS_BACKUP_BASE",), _path, Path("/srv/backups/crm"),
        "Root of the backup tree (db/, snapshots/, verify/, reports/).", must_be="dir"),
    Var("db_dump_stale_min", ("OPS_DB_DUMP_STALE_MIN",), _positive_int, 1560,
        "Minutes after which the newest dump is STALE (26 h: one missed nightly run)."),
    Var("db_dump_fail_min", ("OPS_DB_DUMP_FAIL_MIN",), _positive_int, 2880,
        "Minutes after which the newest dump is FAIL (48 h). Must be greater than the STALE threshold."),
    Var("snapshot_stale_min", ("OPS_SNAPSHOT_STALE_MIN",), _positive_int, 1560,
        "Minutes after which the newest uploads snapshot marker is STALE (26 h)."),
    Var("verify_overdue_hours", ("OPS_VERIFY_OVERDUE_HOURS",), _positive_int, 192,
        "Hours after which the last verify restore is OVERDUE (8 days: one missed weekly run)."),
    Var("verify_auto", ("OPS_VERIFY_AUTO",), _bool, False,
        "Allow the weekly automatic verify (`opsbackup run verify --auto` does nothing without it)."),
    Var("db_host", ("OPS_DB_HOST",), _text, "127.0.0.1",
        "The CRM's MySQL/MariaDB host (ignored when a socket is set).", crm_env="DB_HOST"),
    Var("db_port", ("OPS_DB_PORT",), _port, 3306, "Its TCP port.", crm_env="DB_PORT"),
    Var("db_socket", ("OPS_DB_SOCKET",), _path, None,
        "Its unix socket; when set, used instead of host and port.", crm_env="DB_SOCKET"),
    Var("db_user", ("OPS_DB_USER",), _text, None, "The user the jobs connect as.",
        crm_env="DB_USERNAME"),
    Var("db_password_file", ("OPS_DB_PASSWORD_FILE",), _path, None,
        "A file holding the DB password (preferred over OPS_DB_PASSWORD).", must_be="file"),
    Var("db_password", ("OPS_DB_PASSWORD",), _secret, None,
        "The DB password (a secret; prefer OPS_DB_PASSWORD_FILE).", secret=True,
        crm_env="DB_PASSWORD"),
    Var("db_name", ("OPS_DB_NAME",), _identifier, None,
        "The CRM database: the one that is dumped, never written by verify.", crm_env="DB_DATABASE"),
    Var("crm_env", ("OPS_CRM_ENV",), _path, None,
        "Path of the CRM's Laravel .env: fills DB settings not given otherwise; the DR wizard edits its DB_HOST.",
        must_be="file"),
    Var("critical_tables", ("OPS_CRITICAL_TABLES",), _table_list, ("users", "contacts", "opportunities"),
        "Comma list of tables whose rows are counted by verify and DR."),
    Var("log_path", ("OPS_LOG_PATH",), _path, None,
        "The ops.log. Default: storage/logs/ops.log beside OPS_CRM_ENV, else ops.log in the backup base."),
    Var("log_window_kib", ("OPS_LOG_WINDOW_KIB",), _positive_int, 4096,
        "At most this much of the ops.log tail is read by the ops_log check."),
    Var("metrics_url", ("OPS_METRICS_URL",), _url, None,
        "The CRM's metrics endpoint (GET /crm/ops/metrics). Unset: the metrics check is SKIPPED."),
    Var("metrics_timeout_s", ("OPS_METRICS_TIMEOUT_S",), _positive_float, 3.0,
        "Seconds the metrics check waits for the endpoint."),
    Var("slack_webhook_url", ("OPS_SLACK_WEBHOOK_URL",), _secret_url, None,
        "Slack incoming webhook for alerts (a secret: never logged or shown).", secret=True),
    Var("realert_min", ("OPS_REALERT_MIN",), _positive_int, 240,
        "Minutes before the same health alert is sent again while the state has not changed."),
    Var("uploads_path", ("CRM_UPLOADS_PATH",), _path, None, "The uploads directory that restic snapshots."),
    Var("restic_repository", ("RESTIC_REPOSITORY", "RESTIC_REPO"), _text, None, "The restic repository."),
    Var("restic_password_file", ("RESTIC_PASSWORD_FILE",), _path, None,
        "A file holding the restic password (preferred over RESTIC_PASSWORD).", must_be="file"),
    Var("restic_password", ("RESTIC_PASSWORD",), _secret, None,
        "The restic password (a secret; prefer RESTIC_PASSWORD_FILE).", secret=True),
    Var("free_space_factor", ("OPS_FREE_SPACE_FACTOR",), _factor, 1.5,
        "The DB backup refuses to start unless db/ has this many times the last dump's size free."),
    Var("refresh_s", ("OPS_REFRESH_S",), _positive_int, 30, "Seconds between checklist refreshes in the UI."),
    Var("state_dir", ("OPS_STATE_DIR",), _path, None,
        "Where acknowledgements and alert state are kept. Default: the platformdirs user state dir.", must_be="dir"),
    Var("reload_command", ("OPS_RELOAD_COMMAND",), _argv, None,
        "The CRM's reload command run by the DR wizard after switching .env, e.g. `php artisan config:clear` "
        "(run in the .env's folder, never through a shell)."),
    Var("restore_root", ("OPS_RESTORE_ROOT",), _path, None,
        "Where the uploads restore makes its staging folders. Default: restore/ under the state dir."),
    Var("restic_check_subset", ("OPS_RESTIC_CHECK_SUBSET",), _subset, None,
        "The monthly `restic check` also reads this part of the data, e.g. 10% or 1/12 (--read-data-subset)."),
    Var("legacy_paths", ("OPS_LEGACY_PATHS",), _path_list, (),
        "Extra folders (separated by ':') searched for legacy dumps by `opsbackup migrate`."),
    Var("site", ("OPS_SITE",), _text, None,
        "The `site` label of every `status --prom` series: which CRM this backup host serves. Default: the host name."),
    Var("prometheus_url", ("OPS_PROMETHEUS_URL",), _server_url, None,
        "The Prometheus server that scrapes every backup host's textfile: `opsbackup fleet` and `f` in the UI read it."),
    Var("prometheus_timeout_s", ("OPS_PROMETHEUS_TIMEOUT_S",), _positive_float, 5.0,
        "Seconds one fleet refresh may take in all (every query to the Prometheus server)."),
    Var("fleet_stale_min", ("OPS_FLEET_STALE_MIN",), _positive_int, 15,
        "Minutes after which a host whose textfile was not rewritten is shown as stopped updating."),
    Var("import_jobs", ("OPS_IMPORT_JOBS",), _import_jobs, _default_import_jobs(),
        "mysql clients that import a dump's tables at once (verify, drill, monthly, DR); views, routines, "
        "triggers and events follow on one more. Default: the number of cores, at most 8; 1 imports the "
        "whole dump on one client, in order."),
    Var("child_nice", ("OPS_CHILD_NICE",), _nice, 10,
        "Niceness (1-19) of every program the jobs and the uploads restore run (mariadb-dump, pigz, mariadb, "
        "restic, rsync), so the UI and the host stay responsive; 0 or off: the app's own priority."),
    Var("child_ionice", ("OPS_CHILD_IONICE",), _ionice, "idle",
        "Their I/O class: idle (disk time only when nobody else wants it), best-effort or best-effort:0 to 7 "
        "(7 lowest), or off (the app's own)."),
)

VARS_BY_NAME = {var.name: var for var in VARS}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration. Field docs live in VARS; `sources` says where each value came from."""

    backup_base: Path
    db_dump_stale_min: int
    db_dump_fail_min: int
    snapshot_stale_min: int
    verify_overdue_hours: int
    verify_auto: bool
    db_host: str
    db_port: int
    db_socket: Path | None
    db_user: str | None
    db_password_file: Path | None
    db_password: Secret | None
    db_name: str | None
    crm_env: Path | None
    critical_tables: tuple[str, ...]
    log_path: Path
    log_window_kib: int
    metrics_url: str | None
    metrics_timeout_s: float
    slack_webhook_url: Secret | None
    realert_min: int
    uploads_path: Path | None
    restic_repository: str | None
    restic_password_file: Path | None
    restic_password: Secret | None
    free_space_factor: float
    refresh_s: int
    state_dir: Path
    reload_command: tuple[str, ...] | None
    restore_root: Path | None
    restic_check_subset: str | None
    legacy_paths: tuple[Path, ...]
    site: str
    prometheus_url: str | None
    prometheus_timeout_s: float
    fleet_stale_min: int
    import_jobs: int
    child_nice: int
    child_ionice: str
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # The folders of the backup tree (SPEC).
    db_dir = property(lambda self: self.backup_base / "db")
    snapshots_dir = property(lambda self: self.backup_base / "snapshots")
    verify_dir = property(lambda self: self.backup_base / "verify")
    reports_dir = property(lambda self: self.backup_base / "reports")

    def describe(self) -> list[tuple[str, str, str, str]]:
        """(env var, value with secrets masked, source, doc) for every setting: for help and README."""
        rows = []
        for var in VARS:
            value = getattr(self, var.name)
            if value is None:
                shown = "(not set)"
            elif var.secret:
                shown = "***"
            elif var.parse is _argv:
                import shlex

                shown = shlex.join(value)
            elif isinstance(value, tuple):
                shown = ",".join(str(v) for v in value) or "(none)"
            else:
                shown = str(value)
            rows.append((var.env[0], shown, self.sources.get(var.name, "default"), var.doc))
        return rows


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def _check_kind(var: Var, value: Any, where: str) -> None:
    """A path that exists must be what the setting needs: a backup base that is a file is named as such."""
    if var.must_be is None or not isinstance(value, Path):
        return
    if var.must_be == "dir" and value.exists() and not value.is_dir():
        raise ConfigError(where, f"{value} is a file, not a directory; point {var.env[0]} at a folder")
    if var.must_be == "file" and value.is_dir():
        raise ConfigError(where, f"{value} is a directory, not a file; point {var.env[0]} at a file")


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"is not valid TOML ({exc}); fix or remove the file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"is not UTF-8 text (byte {exc.start}); save it as UTF-8 or remove it") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror}); fix its permissions or remove it") from None
    unknown = sorted(set(data) - set(VARS_BY_NAME))
    if unknown:
        raise ConfigError(
            str(path),
            f"unknown setting {unknown[0]!r}; known settings: {', '.join(VARS_BY_NAME)}",
        )
    return data


def _toml_text(var: Var, value: Any, where: str) -> str:
    """TOML gives typed values; turn them into the same text the environment would give."""
    if isinstance(value, bool):
        if var.parse is not _bool:
            # TOML's true is no number: `db_dump_stale_min = true` must not become 1 minute.
            raise ConfigError(where, f"is {str(value).lower()}; expected {_EXPECTED.get(var.parse, 'a value')}. {_hint(var)}")
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        sep = os.pathsep if var.parse is _path_list else ","
        return sep.join(str(v) for v in value)
    raise ConfigError(where, f"has a {type(value).__name__} value; expected a string or number")


SECRET_LINE_MAX = 64 * 1024


def _read_secret_file(var_name: str, path: Path) -> Secret:
    try:
        with open(path, encoding="utf-8") as handle:
            # Only the first line counts: a path pointed at a dump by mistake is not read whole.
            text = handle.readline(SECRET_LINE_MAX)
    except OSError as exc:
        raise ConfigError(var_name, f"cannot read {path} ({exc.strerror}); check the path and its permissions") from None
    except UnicodeDecodeError:
        raise ConfigError(var_name, f"{path} is not UTF-8 text") from None
    # Like `--password-file` of restic and mysql's option files: the first line, newline dropped.
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first:
        raise ConfigError(var_name, f"{path} is empty; put the password on its first line")
    return Secret(first)


def load_settings(
    flags: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Resolve every setting. `flags` maps setting names to command-line text; raises ConfigError."""
    environ = os.environ if environ is None else environ
    flags = dict(flags or {})
    for name in flags:
        if name not in VARS_BY_NAME:
            raise ConfigError(f"--set {name}", f"unknown setting; known settings: {', '.join(VARS_BY_NAME)}")

    explicit_config = config_path is not None or bool(environ.get("OPS_CONFIG"))
    if config_path is None:
        config_path = Path(environ["OPS_CONFIG"]) if environ.get("OPS_CONFIG") else default_config_path()
    file_values: dict[str, Any] = {}
    if config_path.exists():
        file_values = _read_toml(config_path)
    elif explicit_config:
        raise ConfigError("OPS_CONFIG" if environ.get("OPS_CONFIG") else "--config",
                          f"{config_path} does not exist; give the path of an existing TOML file")
    else:
        config_path = None

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    wheres: dict[str, str] = {}

    def resolve(var: Var) -> bool:
        if var.name in flags:
            raw, where, source = flags[var.name], f"--set {var.name}", "flag"
        else:
            env_name = next((name for name in var.env if environ.get(name) not in (None, "")), None)
            if env_name is not None:
                raw, where, source = environ[env_name], env_name, "env"
            elif var.name in file_values:
                where = f"{config_path}: {var.name}"
                raw, source = _toml_text(var, file_values[var.name], where), "file"
            else:
                return False
        try:
            values[var.name] = var.parse(raw)
        except ValueError as exc:
            shown = "" if var.secret else f"={mask_credentials(raw)!r}"
            raise ConfigError(f"{where}{shown}", f"{exc}. {_hint(var)}") from None
        sources[var.name] = source
        wheres[var.name] = where
        return True

    unresolved = [var for var in VARS if not resolve(var)]

    for name, where in wheres.items():
        _check_kind(VARS_BY_NAME[name], values[name], where)
    crm_env = values.get("crm_env")
    laravel: dict[str, str] = {}
    if crm_env is not None:
        from . import laravel_env

        try:
            laravel = laravel_env.read(crm_env)
        except OSError as exc:
            raise ConfigError("OPS_CRM_ENV", f"cannot read {crm_env} ({exc.strerror}); check the path") from None
    for var in unresolved:
        if var.crm_env and laravel.get(var.crm_env, "") != "":
            where = f"OPS_CRM_ENV ({crm_env}): {var.crm_env}"
            try:
                values[var.name] = var.parse(laravel[var.crm_env])
            except ValueError as exc:
                raise ConfigError(where, f"{exc}. Fix the CRM .env or set {var.env[0]}") from None
            sources[var.name] = "crm .env"
        else:
            values[var.name] = var.default
            sources[var.name] = "default"

    if values["db_dump_stale_min"] >= values["db_dump_fail_min"]:
        raise ConfigError(
            "OPS_DB_DUMP_STALE_MIN",
            f"{values['db_dump_stale_min']} must be less than OPS_DB_DUMP_FAIL_MIN "
            f"({values['db_dump_fail_min']}); a dump turns STALE before it FAILs",
        )
    if values["db_password_file"] is not None:
        values["db_password"] = _read_secret_file("OPS_DB_PASSWORD_FILE", values["db_password_file"])
        sources["db_password"] = "OPS_DB_PASSWORD_FILE"
    if values["restic_password_file"] is not None:
        values["restic_password"] = _read_secret_file("RESTIC_PASSWORD_FILE", values["restic_password_file"])
        sources["restic_password"] = "RESTIC_PASSWORD_FILE"
    if values["log_path"] is None:
        if crm_env is not None:
            values["log_path"] = crm_env.parent / "storage" / "logs" / "ops.log"
        else:
            values["log_path"] = values["backup_base"] / "ops.log"
    if values["state_dir"] is None:
        values["state_dir"] = _default_state_dir()
        _check_kind(VARS_BY_NAME["state_dir"], values["state_dir"], "OPS_STATE_DIR (default)")
    if values["site"] is None:
        import socket

        values["site"] = socket.gethostname()

    settings = Settings(**values, config_file=config_path, sources=sources)
    _in_effect["child_priority"] = (settings.child_nice, settings.child_ionice)
    return settings


# What the process runs with, for the code that has no Settings at hand: core.proc gives every child
# the priority of the settings loaded last (the CLI and the UI load them once per process).
_in_effect: dict[str, Any] = {"child_priority": (VARS_BY_NAME["child_nice"].default,
                                                 VARS_BY_NAME["child_ionice"].default)}


def child_priority() -> tuple[int, str]:
    """(niceness, I/O class) for child processes: OPS_CHILD_NICE and OPS_CHILD_IONICE in effect."""
    return _in_effect["child_priority"]


_EXPECTED = {
    _positive_int: "a whole number", _positive_float: "a number", _factor: "a number", _port: "a port number",
    _path: "a path", _text: "a text", _identifier: "a name", _table_list: "a list of tables", _url: "a URL",
    _secret_url: "a URL", _subset: "a data subset", _argv: "a command line", _path_list: "a list of paths",
    _secret: "a text", _nice: "a niceness", _ionice: "an I/O class",
}

_HINTS = {
    _positive_int: "Use a whole number greater than 0",
    _positive_float: "Use a number greater than 0",
    _import_jobs: f"Use a whole number from 1 to {IMPORT_JOBS_MAX}",
    _factor: "Use a number of at least 1.0, e.g. 1.5",
    _bool: "Use 1 or 0",
    _port: "Use a TCP port such as 3306",
    _identifier: "Use the database's plain name",
    _table_list: "Use a comma list such as users,contacts,opportunities",
    _url: "Use a full URL such as https://crm.example.com/crm/ops/metrics",
    _secret_url: "Use the full https://hooks.slack.com/... URL",
    _server_url: "Use the server's address such as http://prometheus.internal:9090",
    _subset: "Use a percentage such as 10% or a fraction such as 1/12",
    _argv: "Use a command line such as: php artisan config:clear",
    _nice: "Use a niceness from 1 to 19, or off",
    _ionice: "Use idle, best-effort, best-effort:7 or off",
}


def _hint(var: Var) -> str:
    hint = _HINTS.get(var.parse, "Give a valid value")
    if var.default is not None and not var.secret and not isinstance(var.default, tuple):
        hint += f" (default {var.default})"
    return hint + " or unset it."

