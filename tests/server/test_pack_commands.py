"""`waymark pack keygen | sign | publish` against the real server."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from agent.cli import main as waymark
from agent.rules.bundle import load_public_key, read_manifest_unverified
from devtools.live_server import RunningServer
from tests.server.conftest import Tenant, auth, enroll, pack_text


def test_keygen_sign_publish_reaches_a_device(
    tmp_path: Path,
    live: RunningServer,
    client: httpx.Client,
    acme: Tenant,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = tmp_path / "keys"
    assert waymark(["pack", "keygen", "--out", str(keys)]) == 0
    assert stat.S_IMODE((keys / "publisher.key").stat().st_mode) == 0o600
    assert waymark(["pack", "keygen", "--out", str(keys)]) == 1  # never overwrites
    live.store.add_publisher_key(acme.id, (keys / "publisher.pub").read_text())
    load_public_key((keys / "publisher.pub").read_text())

    pack = tmp_path / "m365.yaml"
    pack.write_text(pack_text(4))
    bundle = tmp_path / "m365.bundle"
    sign = ["pack", "sign", str(pack), "--key", str(keys / "publisher.key"), "--out", str(bundle)]
    assert waymark([*sign, "--expires", "30d"]) == 0
    assert read_manifest_unverified(bundle.read_bytes()).version == 4

    publish = ["pack", "publish", str(bundle), "--server", live.url]
    assert waymark([*publish, "--token", acme.analyst_token]) == 1
    assert waymark([*publish, "--token", acme.publisher_token, "--rollout", "100"]) == 0
    assert waymark([*publish, "--token", acme.publisher_token]) == 1  # same version again
    out = capsys.readouterr()
    assert "published m365-habits version 4 to 100%" in out.out
    assert "not newer" in out.err

    got = client.get("/v1/pack", headers=auth(enroll(client, acme)))
    assert got.content == bundle.read_bytes()


def test_sign_refuses_an_invalid_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert waymark(["pack", "keygen", "--out", str(tmp_path)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("waymark: 1\nid: x\nrules: [\n")
    out = tmp_path / "bad.bundle"
    args = ["pack", "sign", str(bad), "--key", str(tmp_path / "publisher.key"), "--out", str(out)]
    assert waymark(args) == 1
    assert not out.exists()
    assert "nothing was signed" in capsys.readouterr().err
