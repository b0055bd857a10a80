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


def test_pack_rollout_changes_the_percentage_with_the_token_from_the_environment(
    tmp_path: Path,
    live: RunningServer,
    client: httpx.Client,
    acme: Tenant,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAYMARK_ADMIN_TOKEN", acme.publisher_token)
    bundle = tmp_path / "v7.bundle"
    bundle.write_bytes(acme.bundle(7))
    assert waymark(["pack", "publish", str(bundle), "--server", live.url, "--rollout", "0"]) == 0
    rollout = ["pack", "rollout", "m365-habits", "7", "10", "--server", live.url]
    assert waymark(rollout) == 0
    assert waymark([*rollout, "--group", "sales", "--group", "it"]) == 0
    assert waymark([*rollout, "--all-groups"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "m365-habits v7 now goes to 10% of devices (all groups)",
        "m365-habits v7 now goes to 10% of devices (sales, it)",
        "m365-habits v7 now goes to 10% of devices (all groups)",
    ]
    (v7,) = client.get("/v1/admin/packs", headers=auth(acme.analyst_token)).json()
    assert v7["rollout"] == 10 and v7["groups"] is None
    # Refusals say why, with exit status 1.
    assert waymark(["pack", "rollout", "m365-habits", "99", "10", "--server", live.url]) == 1
    assert waymark(["pack", "rollout", "m365-habits", "7", "101", "--server", live.url]) == 1
    monkeypatch.setenv("WAYMARK_ADMIN_TOKEN", acme.analyst_token)
    assert waymark(rollout) == 1
    assert waymark([*rollout, "--token", acme.publisher_token]) == 0  # --token wins
    monkeypatch.delenv("WAYMARK_ADMIN_TOKEN")
    assert waymark(rollout) == 1
    assert waymark(["pack", "publish", str(bundle), "--server", live.url]) == 1
    err = capsys.readouterr().err
    assert "no version 99" in err and "PERCENT is a percentage" in err
    assert "refused the rollout (403)" in err
    assert err.count("set WAYMARK_ADMIN_TOKEN") == 2
    # The audit log names the token that did it.
    actions = [e["action"] for e in live.store.audit_entries(acme.id)]
    assert actions.count("rollout") == 4 and "bundle_uploaded" in actions


@pytest.mark.parametrize("command", ["publish", "rollout"])
def test_the_admin_token_commands_say_where_the_token_comes_from(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        waymark(["pack", command, "--help"])
    assert done.value.code == 0
    assert "WAYMARK_ADMIN_TOKEN" in capsys.readouterr().out
