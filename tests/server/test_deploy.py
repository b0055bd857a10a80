"""Deployment files: the SAM template passes cfn-lint and names real handlers."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "installers" / "server" / "template.yaml"
UNIT = ROOT / "installers" / "server" / "waymark-server.service"


def test_the_sam_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sam_handlers_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    text = TEMPLATE.read_text()
    assert "Handler: server.lambda_handler.handler" in text
    assert "Handler: server.lambda_handler.migrate" in text
    monkeypatch.setenv("WAYMARK_SERVER_DB", "postgresql://u:p@127.0.0.1:1/none")
    module = importlib.import_module("server.lambda_handler")
    assert callable(module.handler) and callable(module.migrate)
    module._engine.dispose()
    # Mangum made an event loop for later invocations and set it as current: close it.
    policy = asyncio.get_event_loop_policy()
    policy.get_event_loop().close()
    policy.set_event_loop(None)


def test_the_systemd_unit_runs_migrate_then_serve_on_loopback() -> None:
    text = UNIT.read_text()
    assert "ExecStartPre=/opt/waymark/bin/waymark-server migrate" in text
    assert "serve --host 127.0.0.1" in text
