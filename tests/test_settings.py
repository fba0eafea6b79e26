"""Settings: precedence flag > env > TOML file > CRM .env > default, validation naming the variable, secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from treeutil import run_as_nobody

from opsbackup_tui.core import laravel_env
from opsbackup_tui.core.settings import (
    VARS,
    ConfigError,
    Secret,
    load_settings,
)

DB_SECRET = "hunter2-db-secret-Zq9"
RESTIC_SECRET = "restic-secret-Xk41"
WEBHOOK_SECRET = "https://hooks.slack.com/services/T0000/B0000/sekretwebhooktokenAB12"
FILE_SECRET = "from-a-file-secret-Pw77"
LARAVEL_SECRET = "laravel-env-secret-Ll55"
ALL_SECRETS = (DB_SECRET, RESTIC_SECRET, WEBHOOK_SECRET, FILE_SECRET, LARAVEL_SECRET,
               "sekretwebhooktokenAB12")


def user_config(isolated_env: Path) -> Path:
    """The TOML file in the platformdirs user config dir (XDG_CONFIG_HOME is isolated per test)."""
    path = isolated_env / "config" / "opsbackup" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def load(environ: dict[str, str] | None = None, flags: dict[str, str] | None = None,
         config_path: Path | None = None):
    return load_settings(flags or {}, environ=environ or {}, config_path=config_path)


def config_error(environ: dict[str, str] | None = None, flags: dict[str, str] | None = None,
                 config_path: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(environ, flags, config_path)
    return info.value


# --- defaults ---


def test_defaults_match_the_readme():
    s = load()
    assert s.backup_base == Path("/srv/backups/crm")
    assert (s.db_dump_stale_min, s.db_dump_fail_min) == (1560, 2880)
    assert s.snapshot_stale_min == 1560
    assert s.verify_overdue_hours == 192
    assert s.verify_auto is False
    assert (s.db_host, s.db_port, s.db_socket) == ("127.0.0.1", 3306, None)
    assert s.db_user is None and s.db_password is None and s.db_name is None
    assert s.critical_tables == ("users", "contacts", "opportunities")
    assert s.log_window_kib == 4096
    assert s.metrics_url is None and s.metrics_timeout_s == 3.0
    assert s.slack_webhook_url is None
    assert s.realert_min == 240
    assert s.free_space_factor == 1.5
    assert s.refresh_s == 30
    assert s.legacy_paths == ()
    assert s.config_file is None
    assert all(source == "default" for source in s.sources.values())
    assert s.db_dir == Path("/srv/backups/crm/db")
    assert s.verify_dir == Path("/srv/backups/crm/verify")


def test_state_dir_defaults_to_the_platformdirs_state_dir(isolated_env):
    s = load()
    assert s.state_dir == isolated_env / "state" / "opsbackup"


# --- precedence ---


def test_precedence_flag_over_env_over_file_over_crm_env_over_default(isolated_env, tmp_path):
    crm_env = tmp_path / "crm" / ".env"
    crm_env.parent.mkdir()
    crm_env.write_text("DB_HOST=from-laravel\nDB_PORT=3310\nDB_DATABASE=crm_laravel\nDB_USERNAME=laravel\n")
    user_config(isolated_env).write_text(
        f'crm_env = "{crm_env}"\n'
        'db_host = "from-file"\n'
        'db_user = "file-user"\n'
        "db_dump_stale_min = 100\n"
        "db_dump_fail_min = 1000\n"
        "snapshot_stale_min = 200\n"
    )
    environ = {"OPS_DB_USER": "env-user", "OPS_DB_DUMP_STALE_MIN": "110", "OPS_DB_DUMP_FAIL_MIN": "900"}
    flags = {"db_dump_stale_min": "120"}
    s = load(environ, flags)

    assert s.db_dump_stale_min == 120 and s.sources["db_dump_stale_min"] == "flag"      # flag > env
    assert s.db_dump_fail_min == 900 and s.sources["db_dump_fail_min"] == "env"         # env > file
    assert s.db_user == "env-user" and s.sources["db_user"] == "env"                    # env > file > .env
    assert s.snapshot_stale_min == 200 and s.sources["snapshot_stale_min"] == "file"    # file > default
    assert s.db_host == "from-file" and s.sources["db_host"] == "file"                  # file > .env
    assert s.db_port == 3310 and s.sources["db_port"] == "crm .env"                     # .env > default
    assert s.db_name == "crm_laravel" and s.sources["db_name"] == "crm .env"
    assert s.verify_overdue_hours == 192 and s.sources["verify_overdue_hours"] == "default"
    assert s.config_file == user_config(isolated_env)


def test_explicit_config_path_and_ops_config_env(tmp_path, isolated_env):
    user_config(isolated_env).write_text("refresh_s = 11\n")
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("refresh_s = 22\n")
    via_env = tmp_path / "via-env.toml"
    via_env.write_text("refresh_s = 33\n")

    assert load().refresh_s == 11
    assert load(config_path=explicit).refresh_s == 22
    assert load({"OPS_CONFIG": str(via_env)}).refresh_s == 33
    # --config beats OPS_CONFIG
    assert load({"OPS_CONFIG": str(via_env)}, config_path=explicit).refresh_s == 22
    assert load(config_path=explicit).config_file == explicit


def test_toml_typed_values(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        "verify_auto = true\n"
        'critical_tables = ["users", "invoices"]\n'
        'legacy_paths = ["/old/a", "/old/b"]\n'
        "metrics_timeout_s = 0.5\n"
        "free_space_factor = 2\n"
        "db_port = 3307\n"
    )
    s = load(config_path=config)
    assert s.verify_auto is True
    assert s.critical_tables == ("users", "invoices")
    assert s.legacy_paths == (Path("/old/a"), Path("/old/b"))
    assert s.metrics_timeout_s == 0.5
    assert s.free_space_factor == 2.0
    assert s.db_port == 3307


def test_env_values_are_parsed():
    s = load({
        "OPS_BACKUP_BASE": "/data/backups", "OPS_VERIFY_AUTO": "yes", "OPS_DB_SOCKET": "/run/mysqld/mysqld.sock",
        "OPS_CRITICAL_TABLES": " users , contacts,users ,orders", "OPS_METRICS_URL": "https://crm.example.com/crm/ops/metrics",
        "OPS_LEGACY_PATHS": "/old/a:/old/b", "CRM_UPLOADS_PATH": "/var/www/crm/storage/app/uploads",
    })
    assert s.backup_base == Path("/data/backups")
    assert s.verify_auto is True
    assert s.db_socket == Path("/run/mysqld/mysqld.sock")
    assert s.critical_tables == ("users", "contacts", "orders")  # trimmed, de-duplicated, order kept
    assert s.metrics_url == "https://crm.example.com/crm/ops/metrics"
    assert s.legacy_paths == (Path("/old/a"), Path("/old/b"))
    assert s.uploads_path == Path("/var/www/crm/storage/app/uploads")
    assert s.log_path == Path("/data/backups/ops.log")


@pytest.mark.parametrize("text,value", [("1", True), ("true", True), ("ON", True), ("yes", True),
                                        ("0", False), ("false", False), ("off", False), ("No", False)])
def test_bool_spellings(text, value):
    assert load({"OPS_VERIFY_AUTO": text}).verify_auto is value


def test_restic_repo_alias():
    assert load({"RESTIC_REPO": "/srv/restic"}).restic_repository == "/srv/restic"
    both = load({"RESTIC_REPO": "/srv/alias", "RESTIC_REPOSITORY": "/srv/main"})
    assert both.restic_repository == "/srv/main"
    assert both.sources["restic_repository"] == "env"


def test_log_path_default_derivation(tmp_path):
    crm_env = tmp_path / "www" / "crm" / ".env"
    crm_env.parent.mkdir(parents=True)
    crm_env.write_text("APP_NAME=CRM\n")
    assert load({"OPS_BACKUP_BASE": "/b"}).log_path == Path("/b/ops.log")
    assert load({"OPS_CRM_ENV": str(crm_env)}).log_path == crm_env.parent / "storage" / "logs" / "ops.log"
    explicit = load({"OPS_CRM_ENV": str(crm_env), "OPS_LOG_PATH": "/var/log/ops.log"})
    assert explicit.log_path == Path("/var/log/ops.log")


# --- the CRM's Laravel .env ---


def test_laravel_env_quotes_comments_export(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "# the CRM\n"
        "APP_KEY=base64:abc=\n"
        "\n"
        "export DB_HOST=db.internal\n"
        'DB_PORT="3307"\n'
        "DB_DATABASE='crm_prod' # the production database\n"
        "DB_USERNAME=crm # trailing comment\n"
        'DB_PASSWORD="p#ss word" # quoted, with a comment after it\n'
        "EMPTY=\n"
        'ESCAPED="say \\"hi\\"" # escaped quotes\n'
        "NOT A PAIR\n"
    )
    values = laravel_env.read(env)
    assert values["DB_HOST"] == "db.internal"
    assert values["DB_PORT"] == "3307"
    assert values["DB_DATABASE"] == "crm_prod"
    assert values["DB_USERNAME"] == "crm"
    assert values["DB_PASSWORD"] == "p#ss word"
    assert values["APP_KEY"] == "base64:abc="
    assert values["EMPTY"] == ""
    assert values["ESCAPED"] == 'say "hi"'

    s = load({"OPS_CRM_ENV": str(env)})
    assert (s.db_host, s.db_port, s.db_name, s.db_user) == ("db.internal", 3307, "crm_prod", "crm")
    assert s.db_password == Secret("p#ss word")
    assert s.sources["db_password"] == "crm .env"


def test_laravel_env_fills_only_what_is_unset(tmp_path):
    env = tmp_path / ".env"
    env.write_text("DB_HOST=laravel-host\nDB_PASSWORD=" + LARAVEL_SECRET + "\nDB_SOCKET=/run/crm.sock\nDB_PORT=\n")
    s = load({"OPS_CRM_ENV": str(env), "OPS_DB_HOST": "ops-host"})
    assert s.db_host == "ops-host"
    assert s.db_socket == Path("/run/crm.sock")
    assert s.db_port == 3306  # an empty DB_PORT in the .env does not count
    assert s.db_password.reveal() == LARAVEL_SECRET
    assert LARAVEL_SECRET not in repr(s)


def test_laravel_env_bad_value_names_both(tmp_path):
    env = tmp_path / ".env"
    env.write_text("DB_PORT=mysql\n")
    err = config_error({"OPS_CRM_ENV": str(env)})
    assert "OPS_CRM_ENV" in str(err) and "DB_PORT" in str(err)
    assert "OPS_DB_PORT" in str(err)  # tells how to override it


def test_laravel_env_missing_file():
    err = config_error({"OPS_CRM_ENV": "/nonexistent/crm/.env"})
    assert err.var == "OPS_CRM_ENV"
    assert "/nonexistent/crm/.env" in str(err)


# --- validation: every error names the variable ---


@pytest.mark.parametrize("var,value", [
    ("OPS_DB_DUMP_STALE_MIN", "abc"),
    ("OPS_DB_DUMP_STALE_MIN", "-5"),
    ("OPS_DB_DUMP_STALE_MIN", "0"),
    ("OPS_DB_DUMP_STALE_MIN", "1.5"),
    ("OPS_DB_DUMP_FAIL_MIN", "two days"),
    ("OPS_SNAPSHOT_STALE_MIN", "-1"),
    ("OPS_VERIFY_OVERDUE_HOURS", "0"),
    ("OPS_VERIFY_AUTO", "maybe"),
    ("OPS_DB_PORT", "70000"),
    ("OPS_DB_PORT", "0"),
    ("OPS_DB_PORT", "mysql"),
    ("OPS_DB_NAME", "crm; DROP DATABASE crm"),
    ("OPS_CRITICAL_TABLES", "users;contacts"),
    ("OPS_CRITICAL_TABLES", ",, ,"),
    ("OPS_CRITICAL_TABLES", "users,con tacts"),
    ("OPS_METRICS_URL", "ftp://crm.example.com/metrics"),
    ("OPS_METRICS_URL", "crm.example.com/crm/ops/metrics"),
    ("OPS_METRICS_TIMEOUT_S", "nan"),
    ("OPS_METRICS_TIMEOUT_S", "inf"),
    ("OPS_METRICS_TIMEOUT_S", "-3"),
    ("OPS_LOG_WINDOW_KIB", "0"),
    ("OPS_FREE_SPACE_FACTOR", "0.5"),
    ("OPS_REALERT_MIN", "soon"),
    ("OPS_REFRESH_S", "-30"),
    ("OPS_DB_HOST", "   "),
])
def test_bad_env_value_is_an_error_naming_the_variable(var, value):
    err = config_error({var: value})
    assert err.var.startswith(var)
    assert str(err).startswith(var)
    assert len(str(err)) > len(var) + 10  # says what is wrong, not just the name


def test_bad_value_from_flag_names_the_flag():
    err = config_error(flags={"db_port": "99999"})
    assert "--set db_port" in str(err)
    err = config_error(flags={"no_such_setting": "1"})
    assert "no_such_setting" in str(err)


@pytest.mark.parametrize("stale,fail", [("3000", None), ("2880", None), ("100", "100"), ("200", "100")])
def test_stale_must_be_less_than_fail(stale, fail):
    environ = {"OPS_DB_DUMP_STALE_MIN": stale}
    if fail:
        environ["OPS_DB_DUMP_FAIL_MIN"] = fail
    err = config_error(environ)
    assert err.var == "OPS_DB_DUMP_STALE_MIN"
    assert "OPS_DB_DUMP_FAIL_MIN" in str(err)


def test_stale_just_below_fail_is_fine():
    s = load({"OPS_DB_DUMP_STALE_MIN": "99", "OPS_DB_DUMP_FAIL_MIN": "100"})
    assert (s.db_dump_stale_min, s.db_dump_fail_min) == (99, 100)


def test_password_files(tmp_path):
    good = tmp_path / "db-password"
    good.write_text(FILE_SECRET + "\nsecond line ignored\n")
    s = load({"OPS_DB_PASSWORD_FILE": str(good), "OPS_DB_PASSWORD": "loses-to-the-file"})
    assert s.db_password.reveal() == FILE_SECRET
    assert s.sources["db_password"] == "OPS_DB_PASSWORD_FILE"
    crlf = tmp_path / "restic-password"
    crlf.write_bytes(b"restic-pw\r\n")
    assert load({"RESTIC_PASSWORD_FILE": str(crlf)}).restic_password.reveal() == "restic-pw"


def test_password_file_is_read_to_its_first_line_only(tmp_path):
    # A file that is not text past its first line (a binary pointed at by mistake, say): the
    # password is its first line, and what follows is never read or decoded.
    mixed = tmp_path / "db-password"
    mixed.write_bytes(FILE_SECRET.encode() + b"\n" + b"x" * (1 << 20) + b"\xff\xfe")
    assert load({"OPS_DB_PASSWORD_FILE": str(mixed)}).db_password.reveal() == FILE_SECRET


@pytest.mark.parametrize("var", ["OPS_DB_PASSWORD_FILE", "RESTIC_PASSWORD_FILE"])
def test_unreadable_or_empty_password_file(var, tmp_path):
    missing = tmp_path / "missing"
    err = config_error({var: str(missing)})
    assert err.var == var and str(missing) in str(err)

    folder = tmp_path / "a-directory"
    folder.mkdir()
    assert config_error({var: str(folder)}).var == var

    empty = tmp_path / "empty"
    empty.write_text("")
    err = config_error({var: str(empty)})
    assert err.var == var and "empty" in str(err)

    blank_first_line = tmp_path / "blank"
    blank_first_line.write_text("\nsecret-on-line-two\n")
    err = config_error({var: str(blank_first_line)})
    assert err.var == var
    assert "secret-on-line-two" not in str(err)

    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00pw")
    assert config_error({var: str(binary)}).var == var


def test_password_file_without_permission(public_tmp):
    path = public_tmp / "db-password"
    path.write_text(FILE_SECRET + "\n")
    path.chmod(0)

    def try_load():
        os.environ["XDG_CONFIG_HOME"] = str(public_tmp / "config")  # the child's own, reachable
        try:
            load({"OPS_DB_PASSWORD_FILE": str(path)})
        except ConfigError as exc:
            return exc.var, str(exc)
        return None

    var, text = run_as_nobody(try_load)
    assert var == "OPS_DB_PASSWORD_FILE"
    assert "Permission denied" in text or "permission" in text.lower()
    assert FILE_SECRET not in text


# --- the TOML file ---


def test_unknown_toml_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('backup_base = "/b"\nstale_minutes = 5\n')
    err = config_error(config_path=config)
    assert str(config) in str(err) and "stale_minutes" in str(err)


def test_invalid_toml(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("backup_base = /not/quoted\n")
    err = config_error(config_path=config)
    assert str(config) in str(err) and "TOML" in str(err)


def test_bad_value_in_toml_names_file_and_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("db_dump_stale_min = -5\n")
    err = config_error(config_path=config)
    assert str(config) in str(err) and "db_dump_stale_min" in str(err)

    config.write_text("db_port = { a = 1 }\n")
    err = config_error(config_path=config)
    assert str(config) in str(err) and "db_port" in str(err)

    config.write_text('verify_auto = "perhaps"\n')
    err = config_error(config_path=config)
    assert "verify_auto" in str(err)


def test_a_toml_file_that_is_not_utf8_is_a_configuration_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_bytes('backup_base = "/srv/záloha"\n'.encode("latin-1"))
    err = config_error(config_path=config)
    assert str(config) in str(err) and "not UTF-8" in str(err) and "save it as UTF-8" in str(err)


@pytest.mark.parametrize("line,key", [
    ("db_dump_stale_min = true", "db_dump_stale_min"),
    ("db_port = false", "db_port"),
    ("metrics_timeout_s = true", "metrics_timeout_s"),
    ("critical_tables = true", "critical_tables"),
])
def test_a_toml_boolean_is_no_number(tmp_path, line, key):
    """`true` is not 1 minute: a TOML boolean where a number or a text belongs is an error."""
    config = tmp_path / "c.toml"
    config.write_text(line + "\n")
    err = config_error(config_path=config)
    assert key in str(err) and ("is true" in str(err) or "is false" in str(err))


def test_a_toml_boolean_is_fine_for_a_yes_no_setting(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("verify_auto = true\n")
    assert load(config_path=config).verify_auto is True


@pytest.mark.parametrize("var,name", [("OPS_BACKUP_BASE", "backup_base"), ("OPS_STATE_DIR", "state_dir")])
def test_a_folder_setting_that_points_at_a_file_names_the_variable(tmp_path, var, name):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    err = config_error({var: str(file)})
    assert err.var.startswith(var) and "is a file, not a directory" in str(err) and var in str(err)
    err = config_error(flags={name: str(file)})
    assert err.var.startswith(f"--set {name}")


def test_a_file_setting_that_points_at_a_folder_names_the_variable(tmp_path):
    err = config_error({"OPS_DB_PASSWORD_FILE": str(tmp_path)})
    assert err.var.startswith("OPS_DB_PASSWORD_FILE") and "is a directory, not a file" in str(err)


def test_missing_explicit_config_file(tmp_path):
    missing = tmp_path / "nope.toml"
    err = config_error(config_path=missing)
    assert err.var == "--config" and str(missing) in str(err)
    err = config_error({"OPS_CONFIG": str(missing)})
    assert err.var == "OPS_CONFIG" and str(missing) in str(err)


def test_missing_default_config_file_is_fine(isolated_env):
    assert not user_config(isolated_env).exists()
    assert load().config_file is None


def test_config_file_that_is_a_directory(tmp_path):
    folder = tmp_path / "c.toml"
    folder.mkdir()
    err = config_error(config_path=folder)
    assert str(folder) in str(err)


# --- secrets ---


def _secret_environ(tmp_path: Path) -> dict[str, str]:
    pw = tmp_path / "db-pw"
    pw.write_text(FILE_SECRET + "\n")
    return {"OPS_DB_PASSWORD_FILE": str(pw), "RESTIC_PASSWORD": RESTIC_SECRET,
            "OPS_SLACK_WEBHOOK_URL": WEBHOOK_SECRET}


def _assert_no_secret(text: str) -> None:
    for secret in ALL_SECRETS:
        assert secret not in text


def test_secrets_never_in_repr_str_or_describe(tmp_path):
    s = load(_secret_environ(tmp_path))
    assert s.db_password.reveal() == FILE_SECRET
    assert s.restic_password.reveal() == RESTIC_SECRET
    assert s.slack_webhook_url.reveal() == WEBHOOK_SECRET
    rows = s.describe()
    assert {row[0] for row in rows} == {var.env[0] for var in VARS}
    shown = dict((row[0], row[1]) for row in rows)
    assert shown["OPS_DB_PASSWORD"] == shown["RESTIC_PASSWORD"] == shown["OPS_SLACK_WEBHOOK_URL"] == "***"
    for text in (repr(s), str(s), repr(rows), str(s.db_password), repr(s.slack_webhook_url), f"{s.restic_password}"):
        _assert_no_secret(text)

    s2 = load({"OPS_DB_PASSWORD": DB_SECRET})
    assert s2.db_password.reveal() == DB_SECRET
    assert DB_SECRET not in repr(s2) and DB_SECRET not in repr(s2.describe())


def test_secrets_never_in_config_errors(tmp_path):
    environ = _secret_environ(tmp_path) | {"OPS_DB_PASSWORD": DB_SECRET, "OPS_DB_PORT": "not-a-port"}
    err = config_error(environ)
    assert err.var.startswith("OPS_DB_PORT")
    _assert_no_secret(str(err))
    _assert_no_secret(repr(err))

    # a bad secret itself: named, never echoed
    err = config_error({"OPS_SLACK_WEBHOOK_URL": "not-a-url-sekretwebhooktokenAB12"})
    assert err.var == "OPS_SLACK_WEBHOOK_URL"
    assert "sekretwebhooktokenAB12" not in str(err)

    err = config_error({"OPS_DB_PASSWORD": DB_SECRET + "\0"})
    assert err.var == "OPS_DB_PASSWORD"
    assert DB_SECRET not in str(err)

    config = tmp_path / "secret.toml"
    config.write_text('slack_webhook_url = "hooks.slack.com/sekretwebhooktokenAB12"\n')
    err = config_error(config_path=config)
    assert "slack_webhook_url" in str(err)
    assert "sekretwebhooktokenAB12" not in str(err)


def test_crm_env_credentials_reach_the_real_server(mysql_server, scratch_db, tmp_path):
    """The DB settings read from a Laravel .env log in to the real MariaDB, into the right database."""
    import pymysql

    password = mysql_server.password.reveal() if mysql_server.password else ""
    env = tmp_path / ".env"
    env.write_text(f"DB_CONNECTION=mysql\nDB_HOST={mysql_server.host}\nDB_PORT=\"{mysql_server.port}\"\n"
                   f"DB_DATABASE={scratch_db} # the scratch database\nDB_USERNAME='{mysql_server.user}'\n"
                   f"DB_PASSWORD=\"{password}\"\n")
    s = load({"OPS_CRM_ENV": str(env)})
    assert (s.db_host, s.db_port, s.db_name, s.db_user) == (mysql_server.host, mysql_server.port, scratch_db,
                                                            mysql_server.user)
    conn = pymysql.connect(host=s.db_host, port=s.db_port, user=s.db_user, database=s.db_name,
                           password=s.db_password.reveal() if s.db_password else "", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone()[0] == scratch_db
    finally:
        conn.close()
