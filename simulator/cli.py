"""`kraken-sim serve`: every endpoint with embedded defaults, one JSON ready line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kraken-sim", description="A faithful simulator of the Kraken exchange.")
    sub = p.add_subparsers(dest="command")
    env = os.environ.get
    s = sub.add_parser(
        "serve",
        help="start every endpoint (HTTP+WS, FIX, admin)",
        description="Defaults can also come from KRAKEN_SIM_HOST, KRAKEN_SIM_PORT, KRAKEN_SIM_FIX_PORT, "
        "KRAKEN_SIM_SEED, KRAKEN_SIM_CONFIG, KRAKEN_SIM_ADMIN_TOKEN and KRAKEN_SIM_ADMIN_REMOTE=1 "
        "(the container image uses them).",
    )
    s.add_argument("--host", default=env("KRAKEN_SIM_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(env("KRAKEN_SIM_PORT", "8080")), help="HTTP+WS port (0: pick a free port)")
    s.add_argument("--fix-port", type=int, default=int(env("KRAKEN_SIM_FIX_PORT", "9880")), help="FIX port (0: pick a free port)")
    s.add_argument("--tls-port", type=int, default=None, help="also serve HTTPS/WSS on this port")
    s.add_argument("--cert", default=None, help="TLS certificate (PEM); generated when omitted")
    s.add_argument("--key", default=None, help="TLS private key (PEM)")
    s.add_argument("--config", default=env("KRAKEN_SIM_CONFIG"), help="scenario file (TOML or YAML)")
    s.add_argument("--seed", type=int, default=int(env("KRAKEN_SIM_SEED", "0")), help="seed for all randomness")
    s.add_argument(
        "--admin-token", default=env("KRAKEN_SIM_ADMIN_TOKEN"), help="require 'Authorization: Bearer TOKEN' on /admin"
    )
    s.add_argument(
        "--admin-allow-remote",
        action="store_true",
        default=env("KRAKEN_SIM_ADMIN_REMOTE", "").lower() in ("1", "true", "yes"),
        help="without --admin-token, answer /admin from non-loopback clients too (default: loopback only)",
    )
    s.add_argument("--data-dir", default=env("KRAKEN_SIM_DATA_DIR"),
                   help="recorded data that /admin/replay and series walks may read (default: bundled fixtures only)")
    s.add_argument("--state-dir", default=None, help="persist the journal, snapshots and FIX stores here (restarts resume)")
    s.add_argument("--journal-max", type=int, default=None, metavar="N",
                   help="keep only the newest N journal entries in memory (default: 10000; 0: all)")
    s.add_argument("--journal-rotate-mb", type=float, default=None, metavar="MB",
                   help="with --state-dir: seal the journal file at the first snapshot past MB megabytes and delete "
                        "segments every kept snapshot is past (default: 64; 0: keep the whole run on disk)")
    _retention_args(s)
    s.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    r = sub.add_parser("replay", help="re-run a journal (GET /admin/journal.jsonl) and print the state digest")
    r.add_argument("journal", help="JSONL file of journaled commands")
    r.add_argument("--seed", type=int, default=int(env("KRAKEN_SIM_SEED", "0")), help="the seed of the recorded run")
    r.add_argument("--config", default=None, help="the scenario of the recorded run (for its instruments)")
    _retention_args(r)
    return p


def _retention_args(p: argparse.ArgumentParser) -> None:
    """History kept in memory (README "Retention"); replay needs the run's own values."""
    p.add_argument("--history-keep", type=int, default=_env_int("KRAKEN_SIM_HISTORY_KEEP"), metavar="N",
                   help="newest closed orders, fills and ledger entries kept per account (default: 10000; 0: all)")
    p.add_argument("--trades-keep", type=int, default=_env_int("KRAKEN_SIM_TRADES_KEEP"), metavar="N",
                   help="newest public trades kept per pair (default: 10000; 0: all)")
    p.add_argument("--history-days", type=float, default=None, metavar="D",
                   help="also drop history older than D days of venue time (default: no age limit)")


def _env_int(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v else None


def _retention_bad(args: argparse.Namespace) -> str | None:
    for flag, v in (("--history-keep", args.history_keep), ("--trades-keep", args.trades_keep),
                    ("--history-days", args.history_days)):
        if v is not None and not 0 <= v <= 10**12:
            return f"kraken-sim: {flag} must be 0 or more"
    return None


def _seq_gap(commands: list[dict[str, object]]) -> str | None:
    """Why these commands are not a whole run from seq 1 (None: they are).  A
    download that left its start out (`X-Journal-Dropped`: memory's
    --journal-max, or segments rotated away) would replay to another state."""
    want = 1
    for c in commands:
        if c.get("seq") != want:
            if want == 1:
                return (f"starts at seq {c.get('seq')}, not 1: the commands before it are not in the file (the "
                        "journal's start was dropped or rotated away), so no replay can rebuild the run's state")
            return f"seq {c.get('seq')} follows seq {want - 1}: commands are missing"
        want += 1
    return None


def replay(args: argparse.Namespace) -> int:
    """Rebuild a recorded run from its journal; equal digests = identical state.
    Only the core and the scenario file are loaded: every market is the
    venue's own, so no server or gateway code takes part."""
    import json

    from simulator.core.sequencer import Journal
    from simulator.core.venue import Venue, VenueConfig
    from simulator.scenario import Scenario, load_scenario

    scenario = load_scenario(args.config) if args.config else Scenario()
    seed = scenario.seed if scenario.seed is not None else args.seed
    from simulator.core.engine import EngineConfig
    from simulator.scenario import retention_policy

    bad = _retention_bad(args)
    if bad:
        print(bad, file=sys.stderr)
        return 2
    retention = retention_policy(scenario.retention, args.history_keep, args.trades_keep, args.history_days)
    commands = list(Journal.read_commands(args.journal))
    gap = _seq_gap(commands)
    if gap:
        print(f"kraken-sim: {args.journal}: {gap}", file=sys.stderr)
        return 2
    start = commands[0]["ts"] if commands else None
    venue = Venue(VenueConfig(seed=seed, clock_mode="frozen", clock_start_ns=start, instruments=scenario.instruments,
                              engine=EngineConfig(retention=retention)))
    n = venue.replay(commands)
    print(json.dumps({"replayed": n, "digest": venue.state_digest()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return replay(args)
    if args.command != "serve":
        _parser().print_help(sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from simulator.scenario import ScenarioError, load_scenario
    from simulator.server.server import serve_forever

    if args.journal_max is not None and args.journal_max < 0:
        print("kraken-sim: --journal-max must be 0 or more", file=sys.stderr)
        return 2
    if args.journal_rotate_mb is not None and not 0 <= args.journal_rotate_mb <= 10**9:
        print("kraken-sim: --journal-rotate-mb must be between 0 and 1000000000", file=sys.stderr)
        return 2
    bad = _retention_bad(args)
    if bad:
        print(bad, file=sys.stderr)
        return 2
    scenario = None
    if args.config:
        try:
            scenario = load_scenario(args.config)
        except (ScenarioError, OSError) as exc:
            print(f"kraken-sim: bad scenario: {exc}", file=sys.stderr)
            return 2
    from simulator.server.runtime import JOURNAL_MAX, Settings

    settings = Settings(
        host=args.host,
        port=args.port,
        fix_port=args.fix_port,
        tls_port=args.tls_port,
        cert=args.cert,
        key=args.key,
        seed=args.seed,
        admin_token=args.admin_token,
        admin_remote=args.admin_allow_remote,
        state_dir=args.state_dir,
        data_dir=args.data_dir,
        journal_max=JOURNAL_MAX if args.journal_max is None else (args.journal_max or None),
        **({} if args.journal_rotate_mb is None else {"journal_rotate_bytes": int(args.journal_rotate_mb * (1 << 20))}),
        history_keep=args.history_keep,
        trades_keep=args.trades_keep,
        history_days=args.history_days,
        config_file=args.config,
        log_level=args.log_level,
    )
    from simulator.server.gcpolicy import tune_for_server

    tune_for_server()
    from simulator.server.persistence import StateDirError

    try:
        return asyncio.run(serve_forever(settings, scenario))
    except StateDirError as exc:
        print(f"kraken-sim: refusing to start from --state-dir {args.state_dir}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kraken-sim: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
