"""`floorwatch run`'s session secrets, without starting anything: token roles in the session
config, file modes, and the customer hash key (configured one kept, else a fresh one)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
import yaml

from floorwatch.config import load_settings
from floorwatch.services.runner import SessionSecrets, _session_config, make_run_dir, write_secret_file

pytestmark = pytest.mark.usefixtures("isolated_config")


def test_session_config_grants_the_link_token_viewer_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = SessionSecrets("viewer-tok", "admin-tok", "key-1")
    path = _session_config(session, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data["auth"]["tokens"] == [
        {"name": "local-wallboard", "sha256": hashlib.sha256(b"viewer-tok").hexdigest(), "roles": ["viewer"]},
        {"name": "local-admin", "sha256": hashlib.sha256(b"admin-tok").hexdigest(), "roles": ["admin", "ingest"]},
    ]
    assert "viewer-tok" not in path.read_text() and "admin-tok" not in path.read_text()
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(path))
    assert load_settings().privacy.customer_hash_key == "key-1"  # what the worker will read


def test_a_configured_customer_hash_key_is_kept_else_one_is_made() -> None:
    assert SessionSecrets.new("configured").customer_hash_key == "configured"
    a, b = SessionSecrets.new(), SessionSecrets.new()
    assert len({a.customer_hash_key, b.customer_hash_key, a.viewer_token, a.admin_token}) == 4
    assert len(a.customer_hash_key) >= 43  # 32 random bytes, url-safe base64


def test_secret_files_are_0600_from_the_start_and_never_overwritten(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        write_secret_file(tmp_path / "admin-token", "s\n")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "admin-token").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_secret_file(tmp_path / "admin-token", "other\n")
    assert (tmp_path / "admin-token").read_text() == "s\n"


def test_run_dir_is_0700() -> None:
    run_dir = make_run_dir()
    try:
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    finally:
        run_dir.rmdir()
