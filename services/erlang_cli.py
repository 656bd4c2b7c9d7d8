"""``floorwatch erlang``: the staffing calculator (Erlang C, or Erlang A with ``--patience``).

    floorwatch erlang --offered 300 --interval-minutes 30 --aht 240 --threshold 20 \\
        --target-sl 0.8 [--max-occupancy 0.85] [--shrinkage 0.3] [--patience 120] \\
        [--max-agents 10000] [--json]

Prints the required agents and a small table (required - 2 .. required + 3 agents; Erlang C
rows start at the first stable count floor(A) + 1, Erlang A rows at 1). ``--json`` prints
``{"required_agents": N, "scheduled_agents": S, ..., "rows": [{"agents", "service_level",
"asa_s", "occupancy", "p_wait"[, "abandon_rate"]}]}`` (``asa_s`` null = unbounded).
A requirement above ``--max-agents`` (default: ``staffing.max_agents_per_queue``, 10,000) is
"over cap": the text says so, the JSON has ``"required_agents": null``,
``"required_agents_over_cap": true`` and no rows; exit status 0 (it is an answer).
``--threshold``, ``--target-sl`` and ``--interval-minutes`` default to the configuration
(``queue_defaults``, or the queue named by ``--queue``). Invalid input: one line on stderr,
exit status 2. Maths and definitions: ``floorwatch/domain/erlang.py``, ``docs/staffing.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from floorwatch.domain.erlang import OverCap, StaffingPlan, staffing_plan

PROG = "floorwatch erlang"
#: --max-agents without a configuration: the default of staffing.max_agents_per_queue
DEFAULT_MAX_AGENTS = 10_000


class UsageError(ValueError):
    """Bad command-line input; the message is one line."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``floorwatch erlang``. Values are checked by ``main`` (one-line errors)."""
    parser.description = (
        "Staffing calculator: agents needed for a service-level target "
        "(Erlang C; Erlang A with --patience). See docs/staffing.md."
    )
    add = parser.add_argument
    add("--offered", metavar="N", help="contacts offered in the interval (forecast volume), >= 0")
    add(
        "--interval-minutes",
        metavar="MIN",
        help="interval length in minutes (default: interval_minutes of the config, 30)",
    )
    add("--aht", metavar="S", help="average handle time in seconds (talk + hold + wrap-up), > 0")
    add(
        "--threshold",
        metavar="S",
        help="service-level threshold T in seconds (default: sl_threshold_s of the config, 20)",
    )
    add(
        "--target-sl",
        metavar="R",
        help="service-level target, ratio in (0, 1) or percent like 80%% (default: sl_target, 0.8)",
    )
    add("--queue", metavar="ID", help="take --threshold and --target-sl defaults from this configured queue")
    add("--max-occupancy", metavar="R", help="cap on planned occupancy A/N, in (0, 1]")
    add(
        "--shrinkage",
        metavar="R",
        help="share of paid time off the phones, in [0, 1): scheduled = ceil(N / (1 - shrinkage))",
    )
    add(
        "--patience",
        metavar="S",
        help="mean customer patience in seconds: use Erlang A (abandonment) instead of Erlang C",
    )
    add("--max-abandon", metavar="R", help="with --patience: cap on the abandon rate, in (0, 1)")
    add(
        "--max-agents",
        metavar="N",
        help="answer 'over cap' when more agents than this are needed "
        "(default: staffing.max_agents_per_queue of the config, 10000)",
    )
    add("--json", action="store_true", help="print JSON for machines")


# --------------------------------------------------------------------------- parsing


def _number(flag: str, text: str | None, *, percent: bool = False) -> float | None:
    if text is None:
        return None
    raw = str(text).strip()
    scale = 1.0
    if percent and raw.endswith("%"):
        raw, scale = raw[:-1].strip(), 0.01
    try:
        value = float(raw) * scale
    except ValueError:
        raise UsageError(f"{flag}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{flag}: must be a finite number, got {text!r}")
    return value


def _check(flag: str, value: float | None, ok: bool, rule: str) -> None:
    if value is not None and not ok:
        raise UsageError(f"{flag}: must be {rule}, got {value:g}")


def _config_defaults(settings: Any, queue_id: str | None) -> tuple[float, float, float]:
    """(interval_minutes, sl_threshold_s, sl_target) from the settings, or built-in defaults."""
    interval, threshold, target = 30.0, 20.0, 0.8
    if settings is None:
        if queue_id is not None:
            raise UsageError("--queue needs a configuration")
        return interval, threshold, target
    interval = float(getattr(settings, "interval_minutes", interval))
    rules = getattr(settings, "queue_defaults", None)
    if queue_id is not None:
        by_id = {q.id: q for q in getattr(settings, "queues", [])}
        if queue_id not in by_id:
            known = ", ".join(sorted(by_id)) or "none"
            raise UsageError(f"--queue: unknown queue {queue_id!r} (configured: {known})")
        rules = by_id[queue_id]
    if rules is not None:
        threshold, target = float(rules.sl_threshold_s), float(rules.sl_target)
    return interval, threshold, target


def _max_agents_arg(settings: Any, text: str | None) -> int:
    if text is None:
        staffing = getattr(settings, "staffing", None)
        return int(getattr(staffing, "max_agents_per_queue", DEFAULT_MAX_AGENTS))
    raw = str(text).strip().replace(",", "").replace("_", "")
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"--max-agents: must be a whole number >= 1, got {text!r}")
    return int(raw)


def plan_from_args(settings: Any, args: argparse.Namespace) -> tuple[StaffingPlan, dict[str, Any]]:
    """Validate the options and compute the plan; raise ``UsageError`` (one line) when invalid."""
    interval_default, threshold_default, target_default = _config_defaults(settings, args.queue)
    offered = _number("--offered", args.offered)
    aht = _number("--aht", args.aht)
    if offered is None:
        raise UsageError("--offered is required (contacts offered in the interval)")
    if aht is None:
        raise UsageError("--aht is required (average handle time, seconds)")
    interval = _number("--interval-minutes", args.interval_minutes)
    threshold = _number("--threshold", args.threshold)
    target = _number("--target-sl", args.target_sl, percent=True)
    max_occ = _number("--max-occupancy", args.max_occupancy, percent=True)
    shrinkage = _number("--shrinkage", args.shrinkage, percent=True)
    patience = _number("--patience", args.patience)
    max_abandon = _number("--max-abandon", args.max_abandon, percent=True)
    max_agents = _max_agents_arg(settings, getattr(args, "max_agents", None))
    interval = interval_default if interval is None else interval
    threshold = threshold_default if threshold is None else threshold
    target = target_default if target is None else target
    shrinkage = 0.0 if shrinkage is None else shrinkage

    _check("--offered", offered, offered >= 0, ">= 0")
    _check("--aht", aht, aht > 0, "> 0 seconds")
    _check("--interval-minutes", interval, interval > 0, "> 0 minutes")
    _check("--threshold", threshold, threshold >= 0, ">= 0 seconds")
    _check("--target-sl", target, 0 < target < 1, "a ratio in (0, 1), e.g. 0.8 or 80%")
    _check("--max-occupancy", max_occ, max_occ is not None and 0 < max_occ <= 1, "a ratio in (0, 1], e.g. 0.85 or 85%")
    _check("--shrinkage", shrinkage, 0 <= shrinkage < 1, "a ratio in [0, 1), e.g. 0.3 or 30%")
    _check("--patience", patience, patience is not None and patience > 0, "> 0 seconds")
    _check(
        "--max-abandon",
        max_abandon,
        max_abandon is not None and 0 < max_abandon < 1,
        "a ratio in (0, 1), e.g. 0.05 or 5%",
    )
    if max_abandon is not None and patience is None:
        raise UsageError("--max-abandon needs --patience (Erlang C has no abandonment)")

    inputs = {
        "offered": offered,
        "interval_minutes": interval,
        "aht_s": aht,
        "threshold_s": threshold,
        "target_sl": target,
        "max_occupancy": max_occ,
        "shrinkage": shrinkage,
        "patience_s": patience,
        "max_abandon_rate": max_abandon,
        "max_agents": max_agents,
    }
    try:
        plan = staffing_plan(
            offered=offered,
            interval_s=interval * 60.0,
            aht_s=aht,
            threshold_s=threshold,
            target_sl=target,
            max_occupancy=max_occ,
            shrinkage=shrinkage,
            patience_s=patience,
            max_abandon_rate=max_abandon,
            max_agents=max_agents,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return plan, inputs


# --------------------------------------------------------------------------- output


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _secs(value: float | None) -> str:
    return "inf" if value is None else f"{value:.1f}"


def format_text(plan: StaffingPlan, inputs: dict[str, Any]) -> str:
    model = "Erlang A" if plan.model == "erlang_a" else "Erlang C"
    lines = [
        f"{model}: {inputs['offered']:g} contacts in {inputs['interval_minutes']:g} min, "
        f"AHT {inputs['aht_s']:g} s -> {plan.traffic:.2f} Erlangs",
    ]
    target = [f"target {_pct(inputs['target_sl'])} answered within {inputs['threshold_s']:g} s"]
    if inputs["max_occupancy"] is not None:
        target.append(f"max occupancy {_pct(inputs['max_occupancy'])}")
    if inputs["patience_s"] is not None:
        target.append(f"mean patience {inputs['patience_s']:g} s")
    if inputs["max_abandon_rate"] is not None:
        target.append(f"max abandon {_pct(inputs['max_abandon_rate'])}")
    lines.append("; ".join(target))
    why = {
        "service_level": "service-level target",
        "max_occupancy": "occupancy cap",
        "max_abandon": "abandon-rate cap",
        "no_traffic": "no traffic",
    }[plan.binding]
    if isinstance(plan.required_agents, OverCap):
        lines.append(
            f"required agents: over cap: more than {plan.required_agents.max_agents:,} "
            f"on the phones ({why}; the cap is --max-agents)"
        )
        return "\n".join(lines)
    lines.append(f"required agents: {plan.required_agents} on the phones ({why})")
    if inputs["shrinkage"]:
        lines.append(f"scheduled agents: {plan.scheduled_agents} (with {_pct(inputs['shrinkage'])} shrinkage)")
    lines.append("")
    erlang_a = plan.model == "erlang_a"
    head = f"  {'agents':>6}  {'service level':>13}  {'ASA (s)':>8}  {'occupancy':>9}  {'P(wait)':>7}"
    if erlang_a:
        head += f"  {'abandon':>7}"
    lines.append(head)
    for row in plan.rows:
        mark = ">" if row.agents == plan.required_agents else " "
        line = (
            f"{mark} {row.agents:>6}  {_pct(row.service_level):>13}  {_secs(row.asa_s):>8}  "
            f"{_pct(row.occupancy):>9}  {_pct(row.p_wait):>7}"
        )
        if erlang_a:
            line += f"  {_pct(row.abandon_rate):>7}"
        lines.append(line)
    return "\n".join(lines)


def to_json(plan: StaffingPlan, inputs: dict[str, Any]) -> dict[str, Any]:
    doc = plan.as_dict()
    doc["inputs"] = inputs
    return doc


def main(settings: Any, args: argparse.Namespace) -> int:
    """Run the calculator; 0 on success, 2 on invalid input (one line on stderr)."""
    try:
        plan, inputs = plan_from_args(settings, args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(to_json(plan, inputs), allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_text(plan, inputs) + "\n")
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m floorwatch.services.erlang_cli ...``), same options and output."""
    parser = argparse.ArgumentParser(prog=PROG)
    add_arguments(parser)
    args = parser.parse_args(argv)
    settings = None
    try:
        from floorwatch.config import ConfigError, load_settings

        try:
            settings = load_settings()
        except ConfigError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
    except ImportError:  # pragma: no cover - the calculator works without the config stack
        pass
    return main(settings, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
