"""Cache settings: explicit argument > environment > [tool.ddbuild] in pyproject.toml > default."""

from __future__ import annotations

import pytest

import ddbuild as dd
from ddbuild.errors import ConfigError
from ddbuild.settings import open_cache, resolve_settings
from ddbuild.store import FileSystemStore, LayeredStore

PYPROJECT = """\
[project]
name = "x"

[tool.ddbuild]
cache = "team/cache"
remote = "s3://bucket/prefix"
remote_upload = true
"""


def test_defaults(tmp_path):
    s = resolve_settings(tmp_path, environ={})
    assert (s.cache, s.remote, s.remote_upload, s.require_signed, s.signing_key) == (
        tmp_path / ".ddbuild" / "cache", None, False, False, None)
    assert set(s.sources.values()) == {"default"}
    assert isinstance(open_cache(s), FileSystemStore)


def test_precedence(tmp_path):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    s = resolve_settings(tmp_path, environ={})
    assert (s.cache, s.remote, s.remote_upload) == (tmp_path / "team" / "cache", "s3://bucket/prefix", True)
    env = {"DDBUILD_REMOTE": "http://cache.example/dd/", "DDBUILD_REMOTE_UPLOAD": "0", "DDBUILD_SIGNING_KEY": "k"}
    s = resolve_settings(tmp_path, environ=env)
    assert (s.remote, s.remote_upload, s.sources["remote"], s.signing_key) == (
        "http://cache.example/dd/", False, "env", b"k")
    assert "k'" not in repr(s)  # the key stays out of repr
    s = resolve_settings(tmp_path, remote="other", remote_upload=True, cache="c", environ=env)
    assert (s.remote, s.remote_upload, s.cache) == (str(tmp_path / "other"), True, tmp_path / "c")
    assert s.sources == {"cache": "argument", "remote": "argument", "remote_upload": "argument",
                         "require_signed": "default", "executor": "default"}
    assert resolve_settings(tmp_path, environ={"DDBUILD_EXECUTOR": "ray"}).executor == "ray"
    assert resolve_settings(tmp_path, executor="ray://head:10001", environ={"DDBUILD_EXECUTOR": "ray"}).executor == (
        "ray://head:10001")


def test_designer_takes_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DDBUILD_REMOTE", str(tmp_path / "remote"))
    designer = dd.DataDesigner(remote_upload=True)
    assert designer.settings.remote == str(tmp_path / "remote") and designer.settings.remote_upload
    store = open_cache(designer.settings)
    assert isinstance(store, LayeredStore) and store.upload


def test_bad_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ddbuild]\nremote_uplaod = true\n")
    with pytest.raises(ConfigError, match="Did you mean 'remote_upload'"):
        resolve_settings(tmp_path, environ={})
    with pytest.raises(ConfigError, match="boolean"):
        resolve_settings(tmp_path / "none", environ={"DDBUILD_REMOTE_UPLOAD": "maybe"})
    with pytest.raises(ConfigError, match="URL"):
        resolve_settings(tmp_path / "none", cache="s3://b/p", environ={})
    strict = resolve_settings(tmp_path / "none", remote="s3://b/p", require_signed=True, environ={})
    with pytest.raises(ConfigError, match="no signing key"):
        open_cache(strict)
