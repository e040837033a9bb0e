"""The ncnn source archive is pinned by SHA-256 (cpp/cmake/ncnn.cmake): an archive
with another hash is refused before anything is extracted or built, with a message
naming the file, both hashes and how to accept it deliberately."""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

CPP = Path(__file__).resolve().parent.parent / "cpp"
RELEASE_SHA256 = "ad8cdd63e9755cfa8e23b9b6d9ce46156077d80298a89e7c3ba325ffccfca200"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")


def _fake_archive(path):
    """A tar.gz that looks like ncnn source (src/net.h) but is not the release."""
    with tarfile.open(path, "w:gz") as tar:
        data = b"// not ncnn\n"
        info = tarfile.TarInfo("ncnn-fake/src/net.h")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _configure(tmp_path, **env):
    run_env = {k: v for k, v in os.environ.items() if k not in ("ncnn_DIR", "FACEDGE_NCNN_SHA256")}
    run_env.update(FACEDGE_CACHE_DIR=str(tmp_path / "cache"), **env)
    return subprocess.run(["cmake", "-S", str(CPP), "-B", str(tmp_path / "build"), "-DFACEDGE_BUILD_PYTHON=OFF",
                           "-DFACEDGE_BUILD_TESTS=OFF"], env=run_env, capture_output=True, text=True, timeout=300)


def test_an_archive_with_another_hash_is_refused(tmp_path):
    archive = tmp_path / "ncnn-20261020.tar.gz"
    sha = _fake_archive(archive)
    proc = _configure(tmp_path, FACEDGE_NCNN_SOURCE=str(archive))
    assert proc.returncode != 0
    err = " ".join(proc.stderr.split())
    assert (f"facedge: {archive} has SHA-256 {sha}, expected {RELEASE_SHA256} (the ncnn 20261020 source release); "
            f"refusing to build from it. If you trust this archive, set FACEDGE_NCNN_SHA256={sha}.") in err, proc.stderr
    assert not list((tmp_path / "cache").rglob("net.h")), "nothing is extracted from a refused archive"


def test_the_refusal_names_the_hash_it_was_told_to_expect(tmp_path):
    archive = tmp_path / "ncnn.tar.gz"
    sha = _fake_archive(archive)
    proc = _configure(tmp_path, FACEDGE_NCNN_SOURCE=str(archive), FACEDGE_NCNN_SHA256="AB" * 32)
    assert proc.returncode != 0
    assert f"has SHA-256 {sha}, expected {'ab' * 32}" in " ".join(proc.stderr.split()), proc.stderr
