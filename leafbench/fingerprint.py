"""A loaded model's identity: its weights *and* every setting that changes an output, as sentence-transformers reports
them, so a model folder edited in place (pooling mode, a Dense activation, Normalize removed, tokenizer settings, a
Router's routes, the model's prompts) is a new model with new embeddings and new cells.

Settings are read from the loaded objects rather than hashed as file bytes: `SentenceTransformer.save` writes the
same settings with other version stamps, key orders or absolute paths, which would make two copies of one model two
models; what the loaded model holds is exactly what encoding uses. Per module (Router branches included, by their
route names): its class, `get_config_dict()`, for a transformer its Hugging Face config (less the path and version
stamps) and its tokenizer (the fast tokenizer's full pipeline and its init settings: lower-casing, special tokens,
truncation/padding side, model_max_length); for the whole model its prompts, default prompt name, similarity
function and truncate_dim.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

# Recorded by path or tool version only: two copies of one model differ here and nowhere else.
_CHURN_KEYS = {"_name_or_path", "name_or_path", "transformers_version", "_commit_hash", "vocab_file", "merges_file",
               "tokenizer_file", "is_local", "local_files_only", "cache_dir"}


def _plain(value: Any) -> Any:
    """JSON-able form of a setting: functions by qualified name (their repr holds a memory address)."""
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return str(value)


def _without_churn(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in _CHURN_KEYS}


def tokenizer_settings(tokenizer: Any) -> dict[str, Any]:
    """What decides the token ids: the fast tokenizer's whole pipeline (vocabulary, normaliser, pre-tokenizer,
    post-processor, added tokens) and the init settings (do_lower_case, special tokens, sides, model_max_length).
    The backend's truncation/padding state is left out: each encode call sets it from the settings kept here."""
    out: dict[str, Any] = {"class": type(tokenizer).__qualname__,
                           "init": _without_churn(dict(getattr(tokenizer, "init_kwargs", {}) or {}))}
    for attr in ("padding_side", "truncation_side", "model_max_length", "do_lower_case"):
        out[attr] = getattr(tokenizer, attr, None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        pipeline = json.loads(backend.to_str())
        pipeline.pop("truncation", None)
        pipeline.pop("padding", None)
        out["pipeline"] = pipeline
    elif hasattr(tokenizer, "get_vocab"):
        out["vocab"] = sorted(tokenizer.get_vocab().items())
    return out


def _module_settings(module: torch.nn.Module) -> dict[str, Any]:
    out: dict[str, Any] = {"class": f"{type(module).__module__}.{type(module).__qualname__}"}
    if callable(getattr(module, "get_config_dict", None)):
        out["config"] = module.get_config_dict()
    hf_model = getattr(module, "auto_model", None)
    if hf_model is not None and hasattr(getattr(hf_model, "config", None), "to_dict"):
        out["hf_config"] = _without_churn(hf_model.config.to_dict())
    tokenizer = getattr(module, "tokenizer", None)
    if tokenizer is not None and not isinstance(tokenizer, torch.nn.Module):
        out["tokenizer"] = tokenizer_settings(tokenizer)
    return out


def model_settings(model: torch.nn.Module) -> dict[str, Any]:
    """Every setting of the loaded model that changes an output: per sentence-transformers module (named by its
    place, so a Router's route names count), and the model's own prompts and output options."""
    modules = {name: _module_settings(m) for name, m in model.named_modules()
               if name and hasattr(m, "config_keys")}  # sentence-transformers modules; their torch internals aside
    own = {key: getattr(model, key, None) for key in ("prompts", "default_prompt_name", "truncate_dim",
                                                      "similarity_fn_name", "module_kwargs")}
    return {"modules": modules, "model": own}


def model_fingerprint(model: torch.nn.Module) -> str:
    """Hash of the weights and the settings (`model_settings`): two copies of one model share their cache, and an
    edit of any output-changing setting gives a new fingerprint."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy())
    h.update(json.dumps(model_settings(model), sort_keys=True, default=_plain).encode())
    return h.hexdigest()[:20]


def router_routes(model: torch.nn.Module) -> dict[str, str]:
    """For a model whose first module is a sentence-transformers Router: the route each role's text takes (as
    `encode_query` / `encode_document` resolve it); {} for every other model. Raises ValueError when a role has
    no route."""
    first = next(iter(model.children()), None)
    resolve = getattr(first, "_resolve_route", None)
    if first is None or type(first).__name__ != "Router" or not callable(resolve):
        return {}
    return {role: str(resolve(task=role, modality="text")) for role in ("query", "document")}
