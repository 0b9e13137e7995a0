"""Run an Overcast API server in this process, for the object store's end-to-end tests and
its benchmark: ``python serve.py CONFIG TOKENS_JSON``.

``TOKENS_JSON`` maps static tokens to ``[project_id, user_id, [roles]]`` and stands in for
the identity service (see ``conftest.StubIdentity``) where a test does not need Keystone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from overcast.api.app import create_app  # noqa: E402
from overcast.config import load_config  # noqa: E402
from overcast.runtime import build_runtime  # noqa: E402
from tests.objectstore.conftest import StubIdentity  # noqa: E402


def main() -> None:
    config = load_config(sys.argv[1])
    runtime = build_runtime(config)
    if len(sys.argv) > 2:
        stub = StubIdentity()
        for token, (project_id, user_id, roles) in json.loads(Path(sys.argv[2]).read_text()).items():
            stub.issue(project_id, user_id, tuple(roles))
            stub.tokens[token] = stub.tokens.pop(f"tok-{user_id}-{project_id}")
        runtime._services["identity"] = stub
    runtime.objectstore.start()
    uvicorn.run(create_app(runtime), host=config.api.host, port=config.api.port, log_level="warning",
                access_log=False, loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
