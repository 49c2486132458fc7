"""What a benchmark run needs around it: the peers' venv, wrk, file descriptors, facts.

Every server runs under one interpreter, the peers' venv (benchmarks/.venv-peers-3.X,
one per Python version):
uvicorn, granian and hypercorn are installed there, and so are hurtle's own
dependencies, while hurtle itself is imported from `--hurtle-src` through
PYTHONPATH. Every server thus sees the same Python, uvloop, httptools and
framework versions, and hurtle can be measured from any checkout.

This module imports nothing outside the standard library: it runs under the
bootstrap interpreter before the harness re-executes itself inside the venv.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = HERE / "apps"
# One venv per Python version: `python3.13 benchmarks/harness.py` measures every
# server under 3.13 (where hurtle starts apps eagerly), python3.11 under 3.11.
PEERS_VENV = HERE / f".venv-peers-{sys.version_info.major}.{sys.version_info.minor}"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
STAMP = PEERS_VENV / ".bench-requirements"

# The peers and what the harness itself needs (the WebSocket client uses uvloop,
# the chart matplotlib). Unpinned: a run records the versions it measured.
PEER_REQUIREMENTS = [
    "uvicorn[standard]",
    # uvicorn's HTTP/2 (`--http zttp --http2`, the HTTP/2 rows) is this separate package.
    "zttp",
    "granian",
    "hypercorn",
    "uvloop",
    "starlette",
    "fastapi",
    "matplotlib",
]
# Versions worth printing next to the results, in this order.
REPORTED_PACKAGES = [
    "uvicorn",
    "granian",
    "hypercorn",
    "uvloop",
    "httptools",
    "zttp",
    "h2",
    "websockets",
    "h11",
    "starlette",
    "fastapi",
    "pydantic",
]


def hurtle_pyproject(hurtle_src: Path) -> dict[str, Any]:
    """The pyproject.toml next to --hurtle-src's src/ (this checkout's if it has none)."""
    pyproject = hurtle_src.parent / "pyproject.toml"
    if not pyproject.is_file():
        pyproject = REPO / "pyproject.toml"
    with pyproject.open("rb") as file:
        return tomllib.load(file)


def hurtle_requirements(hurtle_src: Path) -> list[str]:
    """hurtle's runtime dependencies and the metrics extra (the hurtle-metrics server)."""
    project = hurtle_pyproject(hurtle_src)["project"]
    dependencies: list[str] = project["dependencies"]
    return [*dependencies, *project.get("optional-dependencies", {}).get("metrics", [])]


def build_requirements(hurtle_src: Path) -> list[str]:
    """What building hurtle needs ([build-system] requires): setuptools recent enough
    for pyproject.toml's SPDX `license` (PEP 639), and mypy, which brings mypyc."""
    requires: list[str] = hurtle_pyproject(hurtle_src)["build-system"]["requires"]
    return requires


def in_peers_venv() -> bool:
    return Path(sys.prefix).resolve() == PEERS_VENV.resolve()


def ensure_peers_venv(hurtle_src: Path, upgrade: bool = False) -> None:
    """Create or update the peers' venv; a no-op when its requirements are unchanged."""
    requirements = sorted({*PEER_REQUIREMENTS, *hurtle_requirements(hurtle_src)})
    installed = set(STAMP.read_text().splitlines()) if STAMP.exists() else set()
    if not PEERS_PYTHON.exists():
        print(f"benchmarks: creating {PEERS_VENV.relative_to(REPO)}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        installed = set()
    elif not upgrade and installed.issuperset(requirements):
        return
    print(f"benchmarks: installing {', '.join(requirements)}", file=sys.stderr)
    command = [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet"]
    subprocess.run([*command, *(["--upgrade"] if upgrade else []), *requirements], check=True)
    STAMP.write_text("\n".join(sorted(installed.union(requirements))) + "\n")


def reexec_in_peers_venv(hurtle_src: Path, upgrade: bool = False) -> None:
    """Make sure the venv is ready, then continue this script under its Python."""
    if in_peers_venv() and not upgrade:
        return
    ensure_peers_venv(hurtle_src, upgrade)
    if not in_peers_venv():
        argv = [arg for arg in sys.argv if arg != "--upgrade-peers"]
        os.execv(str(PEERS_PYTHON), [str(PEERS_PYTHON), *argv])


def ensure_tool(program: str, debian_package: str, advice: str) -> str:
    """The path of `program`, installing its Debian package when it is missing and we may."""
    found = shutil.which(program)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"benchmarks: installing {debian_package} with apt-get", file=sys.stderr)
        quiet = subprocess.DEVNULL
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=quiet)
        install = ["apt-get", "install", "-y", "-qq", debian_package]
        subprocess.run(install, check=False, stdout=quiet)
        found = shutil.which(program)
        if found:
            return found
    raise SystemExit(
        f"benchmarks: {program} is missing. Install the Debian package "
        f"(apt-get install {debian_package}) {advice}."
    )


def ensure_wrk() -> str:
    return ensure_tool("wrk", "wrk", "or put a wrk 4.x on PATH")


def ensure_h2load() -> str:
    """h2load, nghttp2's HTTP/2 load generator, for the HTTP/2 rows."""
    return ensure_tool("h2load", "nghttp2-client", "or put nghttp2's h2load on PATH")


def make_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key, made once per run for the TLS rows.

    P-256 keeps the handshakes cheap; OpenSSL writes the key as PKCS#8, which granian needs.
    """
    if not shutil.which("openssl"):
        raise SystemExit("benchmarks: openssl is needed to make the TLS rows' certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    return str(cert), str(key)


def check_cpus(server_cpu: int, client_cpu: int) -> None:
    if not shutil.which("taskset"):
        raise SystemExit("benchmarks: taskset (util-linux) is needed to pin the processes")
    available = os.sched_getaffinity(0)
    if server_cpu == client_cpu or not {server_cpu, client_cpu} <= available:
        raise SystemExit(
            f"benchmarks: need two distinct CPUs for the server and the load client, "
            f"asked for {server_cpu} and {client_cpu}, have {sorted(available)}"
        )


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard one; servers started later inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    elif hard == resource.RLIM_INFINITY:
        soft = max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def hurtle_python_path(hurtle_src: Path) -> str:
    return os.pathsep.join([str(hurtle_src), str(APPS)])


def build_compiled(hurtle_src: Path, python: Path = PEERS_PYTHON) -> None:
    """Compile hurtle's optional modules in --hurtle-src for the peers' Python.

    What a user's install gets (setup.py); a checkout without setup.py, or a
    failed build, is measured as pure Python, and the report says which.
    setup.py runs in the peers' venv, not in pip's isolated build environment
    (the extensions go next to the sources, for PYTHONPATH), so the venv is
    first given what that checkout's pyproject.toml requires for a build: a
    venv made by Python 3.11 has setuptools 65, which refuses its `license`.
    """
    root = hurtle_src.parent
    if not (root / "setup.py").is_file():
        return
    requires = build_requirements(hurtle_src)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *requires], check=True, timeout=600
    )
    print(f"benchmarks: compiling hurtle's optional modules in {root}", file=sys.stderr)
    done = subprocess.run(
        [str(python), "setup.py", "--quiet", "build_ext", "--inplace"],
        cwd=root,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        # Measured as pure Python then, which the report says; say why here.
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        print(f"benchmarks: the compile failed, pure Python:\n{tail}", file=sys.stderr)


def compiled_hurtle_modules(hurtle_src: Path) -> str:
    """Which of hurtle's modules run compiled, as the report shows it."""
    code = (
        "import importlib, hurtle._pure as p\n"
        "[importlib.import_module(name) for name in p.COMPILABLE]\n"
        "print(', '.join(p.compiled_modules()) or 'none')"
    )
    shown = run_with_hurtle(hurtle_src, code)
    return shown.stdout.strip() if shown.returncode == 0 else "none (pure Python)"


def run_with_hurtle(hurtle_src: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in the peers' Python, hurtle imported from --hurtle-src."""
    env = {**os.environ, "PYTHONPATH": hurtle_python_path(hurtle_src)}
    return subprocess.run(
        [str(PEERS_PYTHON), "-c", code], env=env, capture_output=True, text=True, check=False
    )


def check_hurtle_src(hurtle_src: Path) -> None:
    """hurtle must be imported from --hurtle-src, not from anything installed."""
    found = run_with_hurtle(hurtle_src, "import hurtle; print(hurtle.__file__)")
    location = Path(found.stdout.strip() or "/nonexistent").resolve()
    if found.returncode != 0 or not location.is_relative_to(hurtle_src.resolve()):
        raise SystemExit(
            f"benchmarks: cannot import hurtle from {hurtle_src}: {found.stderr.strip()}"
        )


@dataclass(frozen=True)
class Facts:
    """The machine and the software a run measured, for the report."""

    date: str
    cpus: int
    cpu_model: str
    kernel: str
    python: str
    wrk: str
    hurtle: str
    packages: dict[str, str]
    fd_limit: int
    load_before: str
    h2load: str = ""  # empty: the run had no HTTP/2 rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version(wrk: str) -> str:
    shown = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (shown.stdout or shown.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


def hurtle_version(hurtle_src: Path) -> str:
    shown = run_with_hurtle(hurtle_src, "import hurtle; print(hurtle.__version__)")
    version = shown.stdout.strip() or "unknown"
    compiled = f"; compiled modules: {compiled_hurtle_modules(hurtle_src)}"
    git = ["git", "-C", str(hurtle_src)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not commit:
        return version + compiled
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, check=False
    ).stdout.strip()
    changes = ", with uncommitted changes" if dirty else ""
    return f"{version} (commit {commit}{changes}){compiled}"


def h2load_version(h2load: str) -> str:
    shown = subprocess.run([h2load, "--version"], capture_output=True, text=True, check=False)
    first = shown.stdout.strip().splitlines()
    return first[0] if first else "h2load, version unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def gather_facts(wrk: str, hurtle_src: Path, fd_limit: int, h2load: str | None = None) -> Facts:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return Facts(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        cpus=os.cpu_count() or 0,
        cpu_model=cpu_model(),
        kernel=f"{platform.system()} {platform.release()}",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        wrk=wrk_version(wrk),
        hurtle=hurtle_version(hurtle_src),
        packages=package_versions(),
        fd_limit=fd_limit,
        load_before=load,
        h2load=h2load_version(h2load) if h2load else "",
    )
