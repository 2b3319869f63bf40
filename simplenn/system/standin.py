"""The stand-in GPU (native/standin_gpu/): build it once per version of its sources, or say why it cannot be built.

`python -m simplenn.system.standin` builds it (cached) and prints the library's path, for `SIMPLENN_PLUGIN`; the
pytest session does the same. docs/standin-gpu.md says what the stand-in is and what it is not.

The cache key is a hash of the sources, the compiler and the TensorFlow version, so a rebuild happens only when one
of them changes; a hit costs no TensorFlow import. The three files compile in parallel and link into a temporary
name that is renamed into place, so two sessions building at once cannot leave a half-written library.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "native" / "standin_gpu"
BUILD = ROOT / "build" / "standin_gpu"
LIBRARY = "libstandin_gpu.so"
DEVICE_TYPE = "SIMGPU"  # what the sources register (standin.h); TensorFlow names the device SIMGPU:0
PLATFORM = "STANDIN"  # the platform name, which tf.config.experimental.get_device_details reports
# Settings the library reads from the environment when it loads (see standin.h).
MEMORY_ENV = "SIMPLENN_STANDIN_MEM_BYTES"
LATENCY_ENV = "SIMPLENN_STANDIN_LATENCY_US"
EXCLUDE_ENV = "SIMPLENN_STANDIN_EXCLUDE"
WARNINGS = ["-Wall", "-Wno-deprecated-declarations"]  # TensorFlow's own headers are full of deprecations


class CannotBuild(Exception):
    """The stand-in cannot be built here; the message says why (tests that need it skip with it)."""


def compiler() -> str:
    """The C++ compiler: $CXX, else g++ or c++ on PATH."""
    given = os.environ.get("CXX")
    found = shutil.which(given) if given else shutil.which("g++") or shutil.which("c++")
    if not found:
        where = f"CXX={given} is not an executable" if given else "no g++ or c++ on PATH"
        raise CannotBuild(f"no C++ compiler ({where}); install g++ (Debian/Ubuntu: apt-get install g++)")
    return found


def tensorflow_dir() -> Path:
    """The installed tensorflow package folder, found without importing it; it must ship the C API headers."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.origin:
        raise CannotBuild("tensorflow is not installed in this Python")
    folder = Path(spec.origin).parent
    header = folder / "include" / "tensorflow" / "c" / "experimental" / "stream_executor" / "stream_executor.h"
    if not header.is_file():
        raise CannotBuild(f"TensorFlow's C API headers are missing ({header} not found)")
    return folder


def sources() -> list[Path]:
    files = sorted(SOURCES.glob("*.cc")) + sorted(SOURCES.glob("*.h"))
    if not files:
        raise CannotBuild(f"the stand-in's sources are not here ({SOURCES}): they ship with the repository only")
    return files


def cache_key(cxx: str, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{cxx}\0{importlib.metadata.version('tensorflow')}\0{sys.platform}\0{WARNINGS}".encode())
    return digest.hexdigest()[:16]


def library_path(build_dir: Path = BUILD) -> Path:
    """Where the library for the current sources, compiler and TensorFlow lives (built or not)."""
    if not sys.platform.startswith("linux"):
        raise CannotBuild(f"it is built and tested on Linux only, not {sys.platform} (a Mac has its own GPU)")
    cxx = compiler()
    tensorflow_dir()
    return build_dir / cache_key(cxx, sources()) / LIBRARY


def build(build_dir: Path = BUILD) -> Path:
    """The path of the stand-in library, compiled first unless the cache has it; CannotBuild says why not."""
    target = library_path(build_dir)
    if target.is_file():
        return target
    cxx, tf_dir = compiler(), tensorflow_dir()
    compile_flags, link_flags = _tensorflow_flags()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        objects, jobs = [], []
        for source in sorted(SOURCES.glob("*.cc")):
            obj = Path(tmp) / f"{source.stem}.o"
            objects.append(obj)
            cmd = [cxx, "-c", "-fPIC", "-O2", *WARNINGS, *compile_flags, f"-I{SOURCES}", str(source), "-o", str(obj)]
            jobs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        for cmd, job in jobs:
            _check(cmd, job.communicate()[0], job.returncode)
        partial = Path(tmp) / LIBRARY
        no_undefined = ["-Wl,--no-undefined"] if sys.platform.startswith("linux") else []
        cmd = [cxx, "-shared", *map(str, objects), "-o", str(partial), *link_flags, *no_undefined,
               f"-Wl,-rpath,{tf_dir}"]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _check(cmd, done.stdout, done.returncode)
        os.replace(partial, target)
    return target


def _tensorflow_flags() -> tuple[list[str], list[str]]:
    """tf.sysconfig's compile flags (headers, C++ ABI, Eigen alignment) and link flags (the framework library).

    Asked in a child process: this one may not have imported TensorFlow yet (the pytest session builds before it
    sets up devices), and a cache miss is the only time the flags are needed.
    """
    code = ("import json, tensorflow as tf; "
            "print(json.dumps([tf.sysconfig.get_compile_flags(), tf.sysconfig.get_link_flags()]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise CannotBuild(f"could not read tf.sysconfig's flags: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    compile_flags, link_flags = json.loads(done.stdout.strip().splitlines()[-1])
    return [f for f in compile_flags if not f.startswith("--std")] + ["-std=c++17"], link_flags


def _check(cmd: list[str], output: str, returncode: int) -> None:
    if returncode != 0:
        errors = [line for line in output.splitlines() if "error" in line.lower()] or output.splitlines()
        raise CannotBuild(f"{Path(cmd[0]).name} failed (exit {returncode}): " + " | ".join(errors[:3])[:600])


def main() -> int:
    try:
        print(build())
    except CannotBuild as e:
        print(f"standin-gpu: cannot build the stand-in GPU: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
