"""``python -m example_app``: serve the example shop on http://127.0.0.1:8000."""

from __future__ import annotations

import os

import uvicorn

if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"Example shop on http://127.0.0.1:{port}  (Ctrl-C stops it)", flush=True)
    uvicorn.run("example_app.app:app", host="127.0.0.1", port=port)
