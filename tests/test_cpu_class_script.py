"""benchmarks/cpu_class.sh (issue 23): the one command that measures a new CPU class. Its commands must stay in step
with the scripts it runs: every script exists and accepts every flag the wrapper passes; bad input is refused."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "cpu_class.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})


def _options(argv: list[str]) -> set[str]:
    """The options the command accepts: an argparse script's ``add_argument("--x")`` calls, or the CLI command's."""
    if Path(argv[0]).name == "resnet-opt":
        import typer

        from resnet_opt.cli import app

        cmd = typer.main.get_command(app).commands[argv[1]]
        return {o for p in cmd.params for o in p.opts}
    return set(re.findall(r'add_argument\(\s*"(--[a-z0-9-]+)"', (ROOT / argv[0]).read_text()))


def test_every_command_names_a_script_and_flags_it_accepts():
    r = _run("--print", "--tag", "some-cpu", "--work", "/tmp/w")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 6 and all(line.startswith("flock /tmp/resnet-opt-cpu.lock ") for line in lines)
    scripts = []
    for line in lines:
        argv = line.split()[2:]
        if argv[0] == sys.executable:
            assert (ROOT / argv[1]).is_file(), argv[1]
            assert "--tag" in argv and argv[argv.index("--tag") + 1] == "some-cpu"
            scripts.append(Path(argv[1]).name)
            argv = argv[1:]
        else:
            assert Path(argv[0]).name == "resnet-opt" and argv[1] == "train"
        accepted = _options(argv)
        assert accepted, argv[:2]
        for flag in (a for a in argv if a.startswith("--")):
            assert flag in accepted, f"{flag} is not an option of {argv[:2]}"
    assert scripts == ["resnet50_cpu.py", "ov_layer_profile.py", "pt2_vs_fx.py", "harness_overhead.py",
                       "qat_speed.py"]
    assert "/tmp/w/digits-r18" in lines[4] and "--model /tmp/w/digits-r18" in lines[5]  # qat_speed uses what train made


@pytest.mark.parametrize("args,why", [(["--tag", "a b"], "--tag must be"), (["--tag"], "--tag needs a value"),
                                      (["--work", "/tmp/a b"], "without spaces"), (["--bogus"], "unknown argument")])
def test_bad_input_is_one_error_line_and_exit_2(args, why):
    r = _run(*args)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("error: ") and why in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
