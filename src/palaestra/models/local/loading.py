"""Loading the ``local`` provider's model: weights and tokenizer from a local directory (never
downloaded; a PEFT LoRA adapter directory is merged into its base), the device and dtype, and what
the engine needs to know of them (end-of-turn ids, the name of the KV-cache argument)."""

from __future__ import annotations

import importlib.util
import inspect
import os
import warnings
from pathlib import Path
from typing import Any

from palaestra.errors import UsageError
from palaestra.models.chat_format import adapter_base, resolve_model_dir
from palaestra.models.local.engine import _describe

END_TOKEN = "<|end|>"
"""The end-of-turn token of the compact template; a row also stops at the tokenizer's EOS token(s)."""

_DTYPES = ("auto", "float32", "bfloat16", "float16")


def _cache_kw(model: Any) -> str:
    """The name ``model.forward`` takes its KV cache by: transformers 5.2x renamed ``past_key_values``
    to ``cache`` (the old name warns, then goes away), earlier releases know only the old one."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cpu_has_bf16(torch: Any) -> bool:
    """Whether this CPU computes in bfloat16 natively (AMX or AVX512-BF16): there bf16 runs a small
    model's forward pass ~2.6x faster than fp32 (measured on a 2-core Xeon with AMX); elsewhere bf16
    is emulated and slower, so ``auto`` stays fp32. ``PALAESTRA_CPU_BF16=0`` (or ``1``) overrides the
    check, e.g. for results comparable across machines."""
    forced = os.environ.get("PALAESTRA_CPU_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(bool(getattr(cpu, c)()) for c in checks if hasattr(cpu, c))
    except Exception:  # a private torch helper that changed: be conservative
        return False


def split_adapter(path: Path) -> tuple[str | None, Path]:
    """``(base, weights)`` of a model directory: for a LoRA adapter, the base it names and that base's
    directory (the weights to load under it); for a whole model, ``(None, path)``."""
    base = adapter_base(path)
    return base, resolve_model_dir(base) if base is not None else path


def put_adapter(model: Any, adapter: Path, *, trainable: bool) -> Any:
    """``model`` (the adapter's base) with the LoRA adapter at ``adapter`` on it: trainable, so that
    training goes on with that adapter (warm start), or else merged into the weights."""
    import peft

    with warnings.catch_warnings():  # PEFT's own use of a deprecated transformers name
        warnings.simplefilter("ignore", FutureWarning)
        model = peft.PeftModel.from_pretrained(model, adapter, is_trainable=trainable, local_files_only=True)
    return model if trainable else model.merge_and_unload()


def _load(path: Path, device: str | None, dtype: str, threads: int | None) -> tuple[Any, Any, Any]:
    """(model, tokenizer, torch device), or UsageError with one line."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as e:
        raise UsageError(f"bad device {device!r} for the local model: {_describe(e)}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} asked for, but torch sees no CUDA device")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if dev.type == "cuda" or cpu_has_bf16(torch) else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no progress bar over a run's own display
    base, weights = split_adapter(path)
    if base is not None and importlib.util.find_spec("peft") is None:
        raise UsageError(f"{path} is a LoRA adapter; loading it needs peft: pip install 'palaestra[local]'")
    try:
        has_tokenizer = any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
        tokenizer = AutoTokenizer.from_pretrained(path if has_tokenizer else weights, local_files_only=True)
        # whole conversations are tokenized to measure them before fit_messages cuts them to the
        # context: that is not an overflow, and transformers' warning about it would be noise
        tokenizer.model_max_length = 2**62
        model: Any = AutoModelForCausalLM.from_pretrained(weights, local_files_only=True, dtype=torch_dtype)
        if base is not None:
            model = put_adapter(model, path, trainable=False)
        model = model.to(dev).eval()
    except Exception as e:
        raise UsageError(f"cannot load the local model at {str(path)!r}: {_describe(e)}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError(f"the tokenizer at {str(path)!r} has no chat template; the local provider needs one")
    return model, tokenizer, dev


QUANTIZE = ("int8",)


def speed_up(model: Any, device: Any, quantize: str | None, compile_model: bool) -> Any:
    """The model with the CPU speed-ups asked for: ``quantize="int8"`` replaces every ``Linear``
    layer by torch's dynamically quantized int8 one (CPU only); ``compile_model`` runs its forward
    through ``torch.compile`` (dynamic shapes: batches and lengths change at every step)."""
    import warnings

    import torch

    if quantize is not None:
        if quantize not in QUANTIZE:
            raise UsageError(f"quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
        if device.type != "cpu":
            raise UsageError("quantize=int8 (torch dynamic quantization) runs on the CPU only")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated, still the built-in way
            from torch.ao import quantization

            quantize_dynamic: Any = quantization.quantize_dynamic  # untyped
            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    if compile_model:
        model.forward = torch.compile(model.forward, dynamic=True)
    return model


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    end = tokenizer.get_vocab().get(END_TOKEN)
    if isinstance(end, int):
        ids.add(end)
    return frozenset(ids)
