"""Finding a checkpoint or tokenizer: a local path, or a Hugging Face hub repository to download.

A name that can only be a path (see :func:`mluke_jax.paths.looks_like_path`) and does not exist
is "no such file or directory" at once, never a download attempt. A hub name is looked up in the
local cache first (works offline); with ``HF_HUB_OFFLINE`` set, or without a network, one that is
not cached fails within seconds (one request, no retries) with a message saying so.
"""

import os
from pathlib import Path

from mluke_jax.paths import is_remote, local_copy, local_path, looks_like_path, resolve

# How long one request to the hub may take before we call the hub unreachable.
HUB_TIMEOUT_SECONDS = 8
_TOKENIZER_AND_CONFIG = ["*.json", "*.model", "*.txt", "*.jsonl", "*.tsv"]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def existing_or_hub(name_or_path: str | os.PathLike) -> Path | None:
    """The absolute path (a URI as it is) when ``name_or_path`` exists; ``None`` when it is a hub
    repository id.

    Raises:
        FileNotFoundError: it does not exist and cannot be a hub repository id.
        ConnectionError: it is in a bucket that does not answer.
    """
    from mluke_jax import remote

    path = resolve(name_or_path) if is_remote(name_or_path) else local_path(name_or_path)
    remote.check_reachable(path)
    if path.exists():
        return path
    if looks_like_path(name_or_path):
        raise FileNotFoundError(f"no such file or directory: {name_or_path}")
    return None


def resolve_source(src: str | os.PathLike, revision: str | None = None) -> Path:
    """A local checkpoint (a transformers directory or an original XLM ``.pth`` file) as an
    absolute path, downloading a hub repository (``org/name``) when ``src`` is not a local path."""
    path = existing_or_hub(src)
    if path is None:
        return download_from_hub(str(src), revision)
    if is_remote(path):  # a transformers checkpoint in a bucket: converted from a local copy
        return local_copy(path)
    if path.is_file() and path.suffix == ".pth":  # an original facebookresearch/XLM checkpoint
        return path
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{src} has no config.json: not a transformers checkpoint directory")
        return path
    raise ValueError(f"{src} is a file; pass the checkpoint directory that holds it (or an original XLM .pth file)")


def tokenizer_directory(name_or_path: str | os.PathLike, revision: str | None = None) -> Path:
    """A local directory, or a hub repository whose tokenizer files are downloaded."""
    path = existing_or_hub(name_or_path)
    if path is None:
        return download_from_hub(str(name_or_path), revision, weights=False)
    if not path.is_dir():
        raise ValueError(f"{name_or_path} is a file: pass the directory that holds the tokenizer files")
    return local_copy(path, skip=("params",)) if is_remote(path) else path


def download_from_hub(repo_id: str, revision: str | None = None, weights: bool = True) -> Path:
    """Download the config, tokenizer files and (``weights=True``) one weight format (safetensors
    if there is one); a cached copy is used without a request."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub import errors as hub_errors

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached
        pass
    if _offline():
        raise OSError(
            f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: download it on a machine "
            "with internet, or pass a local directory"
        )
    patterns = list(_TOKENIZER_AND_CONFIG)
    try:
        # One request without retries (list_repo_files retries five times, 25 s without a network).
        info = HfApi().model_info(repo_id, revision=revision, timeout=HUB_TIMEOUT_SECONDS)
        if weights:
            files = [s.rfilename for s in info.siblings or ()]
            # safetensors when there are some; never optimizer or training-args pickles
            patterns += ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model*.bin"]
        return Path(
            snapshot_download(repo_id, revision=revision, allow_patterns=patterns, etag_timeout=HUB_TIMEOUT_SECONDS)
        )
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FileNotFoundError(f"no such file or directory, and no hub repository {repo_id!r} ({reason})") from None
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        reason = str(e).splitlines()[0] if str(e) else ""
        raise OSError(
            f"could not download {repo_id!r} from the Hugging Face hub ({type(e).__name__}: {reason}). "
            "Are you offline? Download the checkpoint where you have internet and pass its local directory."
        ) from None
