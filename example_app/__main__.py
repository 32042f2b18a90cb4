"""``python -m example_app`` (what ``make run`` runs): the demo shop, with the local emulator unless
PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY are set, in which case it talks to PureClarity.

One Ctrl-C stops both: the emulator is a child process that is stopped when the shop stops.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

import uvicorn

from pc_middleware.emulator import DEMO_ACCESS_KEY, DEMO_SECRET_KEY


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"The emulator stopped at once (is port {port} taken? try --emulator-port)")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    process.terminate()
    sys.exit(f"The emulator did not start on {host}:{port}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m example_app", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--emulator-port", type=int, default=8801)
    parser.add_argument("--emulator-db", help="a SQLite file so the emulator remembers across restarts")
    args = parser.parse_args(argv)

    emulator = None
    if os.environ.get("PURECLARITY_ACCESS_KEY") and os.environ.get("PURECLARITY_SECRET_KEY"):
        print("Talking to the real PureClarity (PURECLARITY_ACCESS_KEY is set).", flush=True)
    else:
        command = [sys.executable, "-m", "pc_middleware.emulator", "--port", str(args.emulator_port)]
        emulator = subprocess.Popen([*command, *(["--db", args.emulator_db] if args.emulator_db else [])])
        _wait_for_port("127.0.0.1", args.emulator_port, emulator)
        os.environ |= {
            "PURECLARITY_BASE_URL": f"http://127.0.0.1:{args.emulator_port}",
            "PURECLARITY_ACCESS_KEY": DEMO_ACCESS_KEY,
            "PURECLARITY_SECRET_KEY": DEMO_SECRET_KEY,
        }
    print(f"Demo shop on http://{args.host}:{args.port}  (Ctrl-C stops it)", flush=True)
    try:
        uvicorn.run("example_app.shop:app", host=args.host, port=args.port, log_level="info")
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
