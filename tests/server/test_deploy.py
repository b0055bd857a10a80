"""Deployment files: the SAM template passes cfn-lint and names real handlers."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "installers" / "server" / "template.yaml"
UNIT = ROOT / "installers" / "server" / "waymark-server.service"


def test_the_sam_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


class _TemplateLoader(yaml.SafeLoader):
    """Reads a CloudFormation template: its short-form tags (!Ref, !Sub …) as plain values."""


_TemplateLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    ),
)


def _functions() -> dict[str, dict[str, Any]]:
    doc = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)  # a SafeLoader
    return {name: res["Properties"] for name, res in doc["Resources"].items()
            if res["Type"] == "AWS::Serverless::Function"}  # fmt: skip


def test_every_sam_handler_exists_and_retention_runs_on_a_schedule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    functions = _functions()
    handlers = {props["Handler"] for props in functions.values()}
    assert handlers == {f"server.lambda_handler.{name}" for name in ("handler", "migrate", "purge")}
    # A Lambda has no thread between requests: retention needs its own schedule.
    purge = next(props for props in functions.values()
                 if props["Handler"] == "server.lambda_handler.purge")  # fmt: skip
    schedules = [e["Properties"]["Schedule"] for e in purge["Events"].values()
                 if e["Type"] == "Schedule"]  # fmt: skip
    assert schedules == ["rate(1 hour)"]
    monkeypatch.setenv("WAYMARK_SERVER_DB", "postgresql://u:p@127.0.0.1:1/none")
    module = importlib.import_module("server.lambda_handler")
    for name in handlers:
        assert callable(getattr(module, name.rsplit(".", 1)[1]))
    module._engine.dispose()
    # Mangum made an event loop for later invocations and set it as current: close it.
    policy = asyncio.get_event_loop_policy()
    policy.get_event_loop().close()
    policy.set_event_loop(None)


def test_the_systemd_unit_runs_migrate_then_serve_on_loopback() -> None:
    text = UNIT.read_text()
    assert "ExecStartPre=/opt/waymark/bin/waymark-server migrate" in text
    assert "serve --host 127.0.0.1" in text
