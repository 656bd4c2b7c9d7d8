"""``floorwatch`` command line: run, broker, worker, api, simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from floorwatch.config import ConfigError, Settings, load_settings
from floorwatch.gc_policy import start_gc_policy
from floorwatch.worker_dir import DataDirError, lock_data_dir


def _cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from floorwatch.services.broker import run_broker

    host, _, port = settings.kafka.bootstrap.rpartition(":")
    return run_broker(
        args.host or host or "127.0.0.1",
        args.port or int(port or 9092),
        settings.kafka.partitions,
        pick_free=not args.exact_port,
        output_partitions=settings.kafka.output_partitions,
        replication_factor=settings.kafka.replication_factor,
    )


def use_event_loop(name: str) -> None:
    """Make ``name`` the event loop of this process (Faust's consumer thread included)."""
    if name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


CUSTOMER_HASH_KEY_ENV = "FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY"


def allocator_restart(settings: Settings, environ: Mapping[str, str], argv: Sequence[str]) -> list[str] | None:
    """The command line a worker restarts itself with to put its objects on the allocator of
    ``worker.object_allocator`` (CPython reads ``PYTHONMALLOC`` only at start), or ``None``
    when it already runs on it or ``PYTHONMALLOC`` was set by whoever started it."""
    if "PYTHONMALLOC" in environ or settings.worker.object_allocator == "pymalloc":
        return None
    return [sys.executable, "-m", "floorwatch.cli", *argv]


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    restart = allocator_restart(settings, os.environ, sys.argv[1:]) if args.may_restart else None
    if restart is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(restart[0], restart, {**os.environ, "PYTHONMALLOC": settings.worker.object_allocator})
    if not settings.privacy.customer_hash_key:
        # customer ids are stored only as HMAC-SHA-256 under this key: no key, no worker
        print(
            f"floorwatch worker: privacy.customer_hash_key is not set: set {CUSTOMER_HASH_KEY_ENV} "
            "to a long random secret (customer ids are hashed with it)",
            file=sys.stderr,
        )
        return 2
    from floorwatch.services.broker import create_topics, wait_for_topics, worker_topics
    from floorwatch.streams.app import create_app

    # an explicit directory (--data-dir, or worker.datadir in the config or environment) is
    # exactly that one; the default one gets a -2, -3 ... suffix while another worker holds it
    explicit = bool(args.data_dir) or "datadir" in settings.worker.model_fields_set
    try:
        data_dir = lock_data_dir(args.data_dir or settings.worker.datadir, explicit)
    except DataDirError as exc:
        print(f"floorwatch worker: {exc}", file=sys.stderr)
        return 2
    try:
        allocator = os.environ.get("PYTHONMALLOC", "pymalloc")
        print(
            f"floorwatch worker: data directory {data_dir.path} (pid {os.getpid()}, Python objects on {allocator})",
            flush=True,
        )
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"datadir": str(data_dir.path)})}
        )
        use_event_loop(settings.worker.event_loop)
        start_gc_policy(settings.gc)
        kafka = settings.kafka
        if kafka.creates_topics:
            asyncio.run(
                create_topics(
                    kafka.bootstrap,
                    kafka.partitions,
                    output_partitions=kafka.output_partitions,
                    replication_factor=kafka.replication_factor,
                )
            )
        else:
            names = list(worker_topics(kafka.partitions, kafka.output_partitions))
            asyncio.run(
                wait_for_topics(
                    kafka.bootstrap,
                    names,
                    lambda line: print(f"floorwatch worker: {line}", file=sys.stderr, flush=True),
                )
            )
        app = create_app(settings)
        loglevel = {"warning": "warn", "critical": "crit"}.get(args.loglevel, args.loglevel)
        sys.argv = ["floorwatch-worker", "worker", "--without-web", "--loglevel", loglevel]
        app.main()
    finally:
        data_dir.release()
    return 0


def _cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from floorwatch.api.main import create_app

    logging.basicConfig(level=args.loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    start_gc_policy(settings.gc)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api.host,
        port=args.port or settings.api.port,
        log_level=args.loglevel,
        access_log=False,
        loop=settings.api.event_loop,
        ws_per_message_deflate=settings.api.ws_per_message_deflate,
    )
    return 0


def _cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from floorwatch.services import simulator

    return simulator.main(settings, args)


def _cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from floorwatch.services import queue_log

    return queue_log.main(settings, args)


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from floorwatch.services.runner import run

    return run(settings, simulate=not args.no_simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="floorwatch", description="Real-time contact-center floor monitor.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="broker (unless FLOORWATCH_KAFKA) + worker + API + simulator")
    p.add_argument("--no-simulate", action="store_true", help="start everything but the simulator")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("broker", help="the embedded Kafka-compatible broker (Tansu) on loopback")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--exact-port", action="store_true", help="fail instead of picking a free port")
    p.set_defaults(func=_cmd_broker)

    p = sub.add_parser("worker", help="one Faust worker")
    p.add_argument(
        "--data-dir",
        default=None,
        help="table data directory, created with its parents and locked "
        "(default: the first free of data/worker, data/worker-2 ...)",
    )
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=_cmd_worker)

    p = sub.add_parser("api", help="the FastAPI service")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=_cmd_api)

    p = sub.add_parser("simulate", help="the contact-center simulator")
    try:
        from floorwatch.services import simulator

        simulator.add_arguments(p)
    except ImportError:  # pragma: no cover
        pass
    p.set_defaults(func=_cmd_simulate)
    from floorwatch.services import erlang_cli

    p = sub.add_parser("erlang", help="staffing calculator (Erlang C; Erlang A with --patience)")
    erlang_cli.add_arguments(p)
    p.set_defaults(func=erlang_cli.main)

    p = sub.add_parser("replay-queue-log", help="replay (or --follow) an Asterisk queue_log")
    from floorwatch.services import queue_log

    queue_log.add_arguments(p)
    p.set_defaults(func=_cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # only a process started with its own command line restarts itself (not a caller in-process)
    args.may_restart = argv is None
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"floorwatch: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(settings, args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
