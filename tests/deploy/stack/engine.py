"""Docker for the stack test: an engine that answers, and the images docker-compose.yml names.

Starts `dockerd` (as root, `--iptables=false --bridge=none`: host networking only) when none
answers, and stops only an engine it started. Where an image cannot be had from a registry it
builds a local stand-in: a Debian bookworm base made by debootstrap (its python3 is 3.11), kept as
a tarball under /var/cache so a machine builds it once, and PostgreSQL and Redis on top of it.
It never pulls, pushes or removes an image, and never touches a container it did not start.
"""

import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("DEPLOY_TEST_CACHE", "/var/cache/digest-site"))
PYTHON_IMAGE = "python:3.11-slim"
STANDIN_PREFIX = "digest-site-standin"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The base: what python:3.11-slim gives the Dockerfile (python, pip, useradd), nothing more.
BASE_PACKAGES = ("python3", "python3-pip", "python-is-python3", "ca-certificates")
BASE_RECIPE = f"bookworm minbase {','.join(BASE_PACKAGES)} v1"


class DockerMissing(Exception):
    """Docker cannot be used here; the message says what to install or start."""


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run the docker client; output captured as text, an error raised with its stderr."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return docker("info", timeout=30, check=False).returncode == 0


def start_engine(*, log: Path) -> subprocess.Popen:
    """Start dockerd for host networking only; its process once `docker info` answers."""
    missing = [name for name in ("docker", "dockerd") if not shutil.which(name)]
    if missing:
        raise DockerMissing(f"{', '.join(missing)} not found: apt-get install docker.io debootstrap")
    if os.geteuid() != 0:
        raise DockerMissing("no Docker engine answers and only root can start one: start dockerd")
    process = subprocess.Popen(
        ["dockerd", "--iptables=false", "--bridge=none"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not engine_answers():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_engine(process)
            raise RuntimeError(f"dockerd did not start; see {log}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def stop_engine(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False).returncode == 0


def image_size_mb(name: str) -> float:
    return int(docker("image", "inspect", "-f", "{{.Size}}", name).stdout) / 1e6


def base_image() -> str:
    """python:3.11-slim when the machine has it; otherwise the debootstrap stand-in, built once."""
    if image_exists(PYTHON_IMAGE):
        return PYTHON_IMAGE
    tag = f"{STANDIN_PREFIX}/python:3.11-bookworm-{_recipe_key()}"
    if not image_exists(tag):
        tarball = _base_tarball()
        docker(
            "import",
            "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change", "ENV LANG=C.UTF-8",
            "--change", 'CMD ["python3"]',
            str(tarball),
            tag,
            timeout=600,
        )  # fmt: skip
    return tag


def standin_image(*, name: str, base: str) -> str:
    """A stand-in for a service image (tests/deploy/stack/images/<name>), built once per base."""
    context = HERE / "images" / name
    digest = hashlib.sha256(base.encode())
    for path in sorted(context.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    tag = f"{STANDIN_PREFIX}/{name}:{digest.hexdigest()[:12]}"
    if not image_exists(tag):
        docker(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "-t",
            tag,
            str(context),
            timeout=900,
        )
    return tag


def build_app_image(*, tag: str, base: str, context: Path) -> float:
    """Build the project's Dockerfile unchanged but for its base; seconds it took."""
    started = time.monotonic()
    docker(
        "build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(context),
        timeout=1200,
    )  # fmt: skip
    return time.monotonic() - started


def _recipe_key() -> str:
    return hashlib.sha256(BASE_RECIPE.encode() + _host_ca_bundle().read_bytes()).hexdigest()[:12]


def _host_ca_bundle() -> Path:
    return Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def _base_tarball() -> Path:
    """The base root file system as a tarball in CACHE_DIR, made by debootstrap when missing."""
    tarball = CACHE_DIR / f"bookworm-python3.11-{_recipe_key()}.tar"
    if tarball.exists():
        return tarball
    if not shutil.which("debootstrap"):
        raise DockerMissing(
            f"no {PYTHON_IMAGE} image and no debootstrap to make one: apt-get install debootstrap"
        )
    if os.geteuid() != 0:
        raise DockerMissing(f"no {PYTHON_IMAGE} image, and only root can run debootstrap to make one")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="debootstrap-", dir=CACHE_DIR) as tmp:
        root = Path(tmp) / "root"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "bookworm",
                str(root),
                MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        _finish_root(root)
        partial = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=300)
        partial.rename(tarball)
    return tarball


def _finish_root(root: Path) -> None:
    """Make the debootstrap tree behave like python:3.11-slim for the Dockerfile."""
    # pip installs system-wide as in the official image (which has no PEP 668 marker).
    (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    # This machine's CA bundle, so pip inside `docker build` trusts what the host trusts.
    shutil.copyfile(_host_ca_bundle(), root / "etc/ssl/certs/ca-certificates.crt")
    (root / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    for path in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        for child in (root / path).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif child.name != "lock":
                child.unlink()
