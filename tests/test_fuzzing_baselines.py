"""Csmith baseline programs: written, resumable, and runnable with gcc (fast, CPU)."""

import shutil
import subprocess

import pytest

from gensdk_plugins.fuzzing.baselines import CSMITH_INCLUDE, csmith_programs

pytestmark = pytest.mark.skipif(shutil.which("csmith") is None or not (CSMITH_INCLUDE / "csmith.h").is_file(),
                                reason="csmith / libcsmith-dev not installed")


def test_csmith_programs_compile_and_print_checksum(tmp_path):
    paths = csmith_programs(2, tmp_path / "progs", seed=1)
    assert [p.name for p in paths] == ["csmith-1.c", "csmith-2.c"]
    assert sorted(p.name for p in (tmp_path / "progs").iterdir()) == ["csmith-1.c", "csmith-2.c"]  # no temp left
    for path in paths:
        assert "main" in path.read_text()
        exe = tmp_path / path.stem
        subprocess.run(["gcc", "-O1", "-w", f"-I{CSMITH_INCLUDE}", str(path), "-o", str(exe)], check=True, timeout=60)
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
        assert "checksum = " in out.stdout


def test_csmith_programs_keep_existing_files(tmp_path):
    first = csmith_programs(1, tmp_path, seed=5)[0]
    first.write_text("kept\n")
    assert csmith_programs(2, tmp_path, seed=5)[0].read_text() == "kept\n"
    assert (tmp_path / "csmith-6.c").exists()
