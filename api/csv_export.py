"""CSV export of the list endpoints: ``?format=csv`` or ``Accept: text/csv`` (docs/api.md, "CSV").

One place for the conversion: a route asks for :data:`CsvWanted` and, when it is true, answers
``csv_response(rows, endpoint, day)`` instead of its JSON.

- Columns: the JSON field names, in the order they first appear over the rows (the union of
  every row's fields; a field a row lacks is an empty cell).
- Cells: text as it is (local ISO 8601 times stay as the JSON writes them), numbers and
  booleans as JSON writes them (``700.0``, ``0.835``, ``true``), ``null`` empty. An object is
  flattened into dotted columns (``state_s.available``, ``day.state_s.aux``); a list is one
  cell of compact JSON text (``["support","mystery"]``); an empty object too (``{}``).
- Formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return gets a leading apostrophe, so a spreadsheet shows it as text instead of evaluating it
  (OWASP, "CSV Injection"). Numbers are written by the JSON rules and are never prefixed.

The rows are the JSON answer's (already bounded by what the view holds); the conversion is one
pass over them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date as Date
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]")


def wants_csv(
    request: Request,
    format: Annotated[
        Literal["json", "csv"] | None,
        Query(description="answer format: json (default) or csv; without it, Accept: text/csv asks for CSV"),
    ] = None,
) -> bool:
    """``?format=csv``; without ``format``, an ``Accept`` that prefers ``text/csv`` to JSON."""
    if format is not None:
        return format == "csv"
    return _accept_prefers_csv(request.headers.get("accept", ""))


CsvWanted = Annotated[bool, Depends(wants_csv)]


def _accept_prefers_csv(accept: str) -> bool:
    """``text/csv`` listed with q > 0 and at least the q of ``application/json`` (if listed)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    csv_q = weights.get("text/csv", 0.0)
    return csv_q > 0.0 and csv_q >= weights.get("application/json", 0.0)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        return json.dumps(value)
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _flatten(row: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            _flatten(value, name + ".", out)
        else:
            out[name] = value


def to_csv(
    rows: Iterable[Mapping[str, Any]], like: Mapping[str, Any] | None = None, columns: Iterable[str] = ()
) -> str:
    """The CSV text of ``rows``: a header row, then one row per item. ``like``: a row whose
    columns come first, in its order (e.g. a team's, before the floor's); ``columns``: names
    that come first (an empty list still gets its header row from them; with neither and no
    rows, the text is empty)."""
    flat: list[dict[str, Any]] = []
    names: dict[str, None] = dict.fromkeys(columns)
    if like is not None:
        seed: dict[str, Any] = {}
        _flatten(like, "", seed)
        names.update(dict.fromkeys(seed))
    for row in rows:
        cells: dict[str, Any] = {}
        _flatten(row, "", cells)
        flat.append(cells)
        names.update(dict.fromkeys(cells))
    buffer = io.StringIO()
    if names:
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([_cell(name) for name in names])
        writer.writerows([_cell(cells.get(name)) for name in names] for cells in flat)
    return buffer.getvalue()


def csv_filename(endpoint: str, day: Date, *, last: Date | None = None, subject: str | None = None) -> str:
    """``floorwatch-<endpoint>[-<subject>]-<day>[_<last>].csv`` (``last`` when a range ends
    after ``day``; ``subject``: the queue or agent asked for); unsafe characters become ``_``."""
    span = day.isoformat() if last is None or last == day else f"{day.isoformat()}_{last.isoformat()}"
    parts = [p for p in ("floorwatch", endpoint, subject, span) if p]
    return _SAFE_FILENAME.sub("_", "-".join(parts) + ".csv")


def csv_response(
    rows: Iterable[Mapping[str, Any]],
    endpoint: str,
    day: Date,
    like: Mapping[str, Any] | None = None,
    *,
    last: Date | None = None,
    subject: str | None = None,
    columns: Iterable[str] = (),
) -> Response:
    """``text/csv`` download named by :func:`csv_filename`, never cached."""
    name = csv_filename(endpoint, day, last=last, subject=subject)
    return Response(
        content=to_csv(rows, like, columns).encode("utf-8"),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def day_then_intervals(block: Mapping[str, Any], lead: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of a block with ``day`` and ``intervals``: the day row first (``start``/``end``
    empty), then one row per interval; ``lead`` (e.g. the channel) opens every row."""
    day: Mapping[str, Any] = block.get("day") or {}
    rows = [{**lead, "start": None, "end": None, **day}]
    rows.extend({**lead, **interval} for interval in block.get("intervals") or [])
    return rows


CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with ?format=csv"}
}
