"""The DSS plugin zip `make plugin` builds: every part listed, no tests, a licence."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import build_plugin  # noqa: E402


def test_the_zip_holds_the_plugin_its_licence_and_no_tests(tmp_path):
    out = build_plugin.main(tmp_path)
    names = zipfile.ZipFile(out).namelist()
    assert {"plugin.json", "LICENSE", "README.md"} <= set(names)
    assert "Apache License" in zipfile.ZipFile(out).read("LICENSE").decode()
    assert json.loads(zipfile.ZipFile(out).read("plugin.json"))["id"] == "ml-assisted-labeling"
    for part in ("custom-recipes/", "python-lib/assisted_labeling/", "python-triggers/",
                 "python-steps/", "webapps/", "resource/", "code-env/"):
        assert any(n.startswith(part) for n in names), part
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")
                or n.endswith(".pyc")]


def test_a_listed_part_that_is_missing_stops_the_build(tmp_path, monkeypatch):
    import pytest

    monkeypatch.setattr(build_plugin, "INCLUDED", [*build_plugin.INCLUDED, "NOTICE"])
    with pytest.raises(SystemExit, match="NOTICE missing"):
        build_plugin.main(tmp_path / "dist")
    assert not (tmp_path / "dist").exists()
