"""A strict reader of the Prometheus text exposition format (0.0.4, and OpenMetrics' `# EOF`).

Ours, not prometheus-client's parser: that import alone costs ~57 ms, more than the whole
`opsbackup status` scan, and we only need "does this parse, how many samples".
"""

from __future__ import annotations

import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"[+-]?(?:(?i:inf(?:inity)?|nan)|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)"
_SAMPLE_RE = re.compile(
    rf"[ \t]*({_NAME})(?:[ \t]*\{{\s*(?:{_LABEL}(?:\s*,\s*{_LABEL})*\s*,?\s*)?\}})?[ \t]+{_VALUE}(?:[ \t]+-?\d+(?:\.\d+)?)?[ \t]*"
)
_META_RE = re.compile(rf"# (HELP|TYPE) ({_NAME})(?: (.*))?")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}


class PromParseError(ValueError):
    pass


def count_samples(text: str) -> int:
    """Number of samples in an exposition; raises PromParseError naming the first bad line."""
    samples = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        # Like Prometheus' own parser: blanks may lead a line, and around `=` and before `{`.
        if line.lstrip(" \t").startswith("#"):
            meta = _META_RE.fullmatch(line.lstrip(" \t"))
            if meta and meta.group(1) == "TYPE" and (meta.group(3) or "").strip() not in _TYPES:
                raise PromParseError(f"line {number}: unknown metric type {meta.group(3)!r}")
            continue
        if not _SAMPLE_RE.fullmatch(line):
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise PromParseError(f"line {number} is not a sample: {shown!r}")
        samples += 1
    if samples == 0:
        raise PromParseError("no samples in the body")
    return samples
