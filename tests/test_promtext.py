"""The Prometheus text exposition reader: what parses, how many samples, and what does not."""

from __future__ import annotations

import pytest

from opsbackup_tui.core.checks import CheckResult, Status
from opsbackup_tui.core.prom import render_prom
from opsbackup_tui.core.promtext import PromParseError, count_samples


@pytest.mark.parametrize("text,samples", [
    ("up 1\n", 1),
    ("up 1", 1),                                                               # no final newline
    ("up 1\r\nother 2\r\n", 2),                                                # CRLF
    ("\n\nup 1\n\n", 1),                                                       # blank lines
    ('http_requests_total{method="post",code="200"} 1027 1395066363000\n', 1),  # timestamp
    ('http_requests_total{method="post",code="400"}    3 1395066363000\n', 1),
    ('msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9\n', 1),
    ("metric_without_timestamp_and_labels 12.47\n", 1),
    ('something_weird{problem="division by zero"} +Inf -3982045\n', 1),
    ("a NaN\nb -Inf\nc +Inf\nd Nan\ne 1e-3\nf .5\ng -0\nh 1E+10\n", 8),
    ('empty_labels{} 0\n', 1),
    ('trailing_comma{le="+Inf",} 1\n', 1),
    ('spaces_in_labels{ a="1" , b="2" } 1\n', 1),
    ('label_value_with_braces{query="{a} }"} 1\n', 1),
    ('utf8_label{name="Tomáš Černý ✓"} 1\n', 1),
    ("tabs\t1\t1395066363000\n", 1),
    ("name:with:colons 1\n", 1),
    ("_leading_underscore 1\n", 1),
    # Prometheus' own parser skips blanks at the start of a line, before `{` and around `=`:
    ("  indented 1\n\t# HELP indented comment\n", 1),
    ('blank_before_brace {a="1"} 1\n', 1),
    ('blanks_around_equals{a = "1",b= "2"} 1\n', 1),
])
def test_valid_samples(text, samples):
    assert count_samples(text) == samples


def test_full_exposition_with_help_type_histogram_and_summary():
    text = """# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"""
    assert count_samples(text) == 20


def test_openmetrics_with_eof():
    text = ('# HELP crm_jobs Jobs.\n# TYPE crm_jobs gauge\n# UNIT crm_jobs jobs\ncrm_jobs{queue="default"} 3\n'
            '# TYPE crm_info info\ncrm_info{version="1.2.3"} 1\n# EOF\n')
    assert count_samples(text) == 2


def test_help_with_escapes_and_untyped_comments():
    text = "# HELP x Help with \\\\ and \\n escapes and \"quotes\".\n#just a comment\n#\n# TYPE x untyped\nx 1\n"
    assert count_samples(text) == 1


@pytest.mark.parametrize("text", [
    "",
    "\n\n",
    "# HELP only_help Nothing else.\n# TYPE only_help gauge\n",
    "# EOF\n",
    "<!DOCTYPE html>\n<html><body>Login</body></html>\n",
    '{"status":"ok"}\n',
    "up\n",                                 # no value
    "up one\n",                             # not a number
    "up 1 2 3\n",                           # too many fields
    "up 1 not-a-timestamp\n",
    "1up 1\n",                              # name starts with a digit
    "up-time 1\n",                          # dash in the name
    'up{job="a} 1\n',                       # unterminated label value
    'up{job=a} 1\n',                        # unquoted label value
    'up{job="a"\n',                         # unterminated label set
    'up{1job="a"} 1\n',                     # bad label name
    'up{job="a\\x"} 1\n',                   # unknown escape
    "up 1\nthis is not a metric line\n",
    "# TYPE up gaugee\nup 1\n",                # unknown type
    "# TYPE up\nup 1\n",                     # missing type
])
def test_invalid_expositions(text):
    with pytest.raises(PromParseError):
        count_samples(text)


def test_error_names_the_line_and_truncates_it():
    with pytest.raises(PromParseError) as info:
        count_samples("ok 1\n# HELP ok fine\n" + "<div>" * 40 + "\n")
    message = str(info.value)
    assert message.startswith("line 3 ")
    assert "..." in message and len(message) < 120


# --- our own textfile output parses with the same reader ---


def test_render_prom_parses_and_escapes_labels(make_settings):
    settings = make_settings(backup_base='/srv/back"ups\\crm')
    results = [
        CheckResult("db_dump", Status.OK, 3600.0, "/x/full-20261126-0200.sql.gz", "ok", 93600,
                    {"size_bytes": 7_500_000, "mtime": 1_800_000_000.4}),
        CheckResult("uploads_snapshot", Status.STALE, 100000.0, "/x", "stale", 93600),
        CheckResult("verify_restore", Status.FAILED, 7200.0, "/x", "failed", 691200),
        CheckResult("metrics", Status.SKIPPED, None, None, "unset", 3.0),
        CheckResult("ops_log", Status.WARN, None, "/x/ops.log", "2 lines"),
    ]
    text = render_prom(results, settings, now=1_800_000_100)
    assert count_samples(text) == 5 + 3 + 3 + 2 + 2
    assert 'base="/srv/back\\"ups\\\\crm"' in text
    assert 'opsbackup_check_status{check="verify_restore",status="FAILED",base=' in text
    assert "opsbackup_last_dump_size_bytes{" in text and "} 7500000\n" in text
    assert "opsbackup_last_dump_timestamp_seconds{" in text and "} 1800000000\n" in text
    assert "opsbackup_status_timestamp_seconds{" in text and "} 1800000100\n" in text
    overall_line = next(line for line in text.splitlines() if line.startswith("opsbackup_overall_status{"))
    assert overall_line.endswith(" 2")
