"""The command line as a process: a bad configuration is one line on stderr and exit code 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("api: {port: not-a-port}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "floorwatch.cli", "broker"],
        capture_output=True,
        text=True,
        env={"FLOORWATCH_CONFIG": str(path), "PATH": "/usr/bin:/bin"},
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "'api.port'" in proc.stderr
