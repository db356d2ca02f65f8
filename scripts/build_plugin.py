"""Build the DSS plugin zip (dist/dss-plugin-<id>-<version>.zip), tests excluded."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDED = ["plugin.json", "code-env", "custom-recipes", "python-lib", "python-triggers",
            "python-steps", "webapps", "resource", "README.md", "LICENSE"]
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", "tests"}


def main(out_dir: Path = ROOT / "dist") -> Path:
    meta = json.loads((ROOT / "plugin.json").read_text())
    missing = [name for name in INCLUDED if not (ROOT / name).exists()]
    if missing:  # a plugin without them is incomplete: say so rather than ship it
        raise SystemExit(f"Cannot build the plugin: {', '.join(missing)} missing")
    out = out_dir / f"dss-plugin-{meta['id']}-{meta['version']}.zip"
    out.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in INCLUDED:
            path = ROOT / name
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for file in files:
                rel = file.relative_to(ROOT)
                if file.is_file() and not SKIPPED_PARTS & set(rel.parts) \
                        and file.suffix not in {".pyc", ".egg-info"} \
                        and not any(p.endswith(".egg-info") for p in rel.parts):
                    archive.write(file, rel.as_posix())
    print(out)
    return out


if __name__ == "__main__":
    main()
