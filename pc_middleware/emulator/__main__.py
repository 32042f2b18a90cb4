"""``python -m pc_middleware.emulator [--host H] [--port P] ...``: serve the emulator."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .app import create_app
from .config import EmulatorConfig, load_zones


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pc_middleware.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--catalog", type=Path, help="a product feed in PureClarity's JSON format (default: the demo)")
    parser.add_argument("--zones", type=Path, help='a zones file: {"zones": [...]} (default: the demo zones)')
    parser.add_argument("--keys", help='access keys and secrets as JSON, e.g. \'{"demo": "demo-secret"}\'')
    parser.add_argument("--db", help="a SQLite file that keeps what the emulator learns across restarts")
    parser.add_argument("--currency", default="GBP", help="the currency of calls that name none")
    parser.add_argument("--session-idle", type=float, default=1800, help="seconds after which a session ends")
    parser.add_argument("--inspect", action="store_true", help="enable GET /_emulator/requests")
    parser.add_argument("--faults", action="store_true", help="enable fault injection at /_emulator/faults")
    parser.add_argument(
        "--fault-plan", help="with --faults, a plan in force from the start, e.g. '{\"latency_ms\": 200}'"
    )
    args = parser.parse_args(argv)

    settings: dict[str, object] = {
        "catalog_path": args.catalog,
        "zones": load_zones(args.zones),
        "default_currency": args.currency,
        "session_idle_seconds": args.session_idle,
        "inspection": args.inspect,
        "faults": args.faults,
    }
    if args.keys:
        settings["keys"] = json.loads(args.keys)
    if args.fault_plan:
        settings["fault_plan"] = json.loads(args.fault_plan)
    if args.db:
        settings["database"] = args.db
    app = create_app(EmulatorConfig.model_validate(settings))

    import uvicorn  # only the command line needs a server

    print(f"PureClarity emulator on http://{args.host}:{args.port}/api/serverside", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
