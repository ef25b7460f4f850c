"""Generated protocol code is committed; this fails when it is stale against proto/."""

import filecmp
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_code_matches_proto(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)], check=True)
    committed = ROOT / "src" / "squall" / "_proto"
    stale = []
    for fresh in [*tmp_path.rglob("*.py"), *tmp_path.rglob("*.pyi")]:
        rel = fresh.relative_to(tmp_path)
        if not (committed / rel).exists() or not filecmp.cmp(fresh, committed / rel, shallow=False):
            stale.append(str(rel))
    assert not stale, f"run `make proto`: stale generated files {stale}"
