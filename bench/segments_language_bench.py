"""Parse time of the segment filter language against filter length: it must grow linearly.

    python bench/segments_language_bench.py [--repeat 20]

For each shape (a realistic mix of conditions, one long `in (...)` list, long quoted strings with escapes) and
each length up to the 10,000-character limit, prints the best CPU time of `parse`, `to_text`
and the JSON round trip (`from_json(to_json(...))`, which parses the canonical text again) in
milliseconds, and microseconds per character: a flat µs/char column means linear time. CPU
time (`time.process_time`) moves less than wall-clock time when other jobs share the machine.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

from _common import setup_django


def _best(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best * 1000


def _mix(limit: int) -> str:
    term = '(tag:beach or stage >= mql) and score between 10 and 40 and not visited("/pricing*") within 30d'
    parts: list[str] = []
    while len(" or ".join([*parts, term])) <= limit:
        parts.append(term)
    return " or ".join(parts)


def _in_list(limit: int) -> str:
    values: list[str] = []
    while len(f"stage in ({', '.join([*values, 'v0000'])})") <= min(limit, 10_000) and len(values) < 1000:
        values.append(f"v{len(values):04d}")
    return f"stage in ({', '.join(values)})"


def _strings(limit: int) -> str:
    term = 'note ~ "' + 'say \\"hi\\" ' * 80 + '"'
    parts: list[str] = []
    while len(" or ".join([*parts, term])) <= limit:
        parts.append(term)
    return " or ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    setup_django()
    from leadbridge.segments.language import from_json, parse, to_json, to_text

    rows = []
    for shape, build in (("mix", _mix), ("in_list", _in_list), ("strings", _strings)):
        for limit in (1_250, 2_500, 5_000, 10_000):
            text = build(limit)
            node = parse(text)
            parse_ms = _best(lambda t=text: parse(t), args.repeat)  # type: ignore[misc]
            rows.append(
                {
                    "shape": shape,
                    "chars": len(text),
                    "parse_ms": round(parse_ms, 2),
                    "parse_us_per_char": round(parse_ms * 1000 / len(text), 2),
                    "to_text_ms": round(_best(lambda n=node: to_text(n), args.repeat), 2),  # type: ignore[misc]
                    "json_round_trip_ms": round(_best(lambda n=node: from_json(to_json(n)), args.repeat), 2),  # type: ignore[misc]
                }
            )
    print(json.dumps({"load_average": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
