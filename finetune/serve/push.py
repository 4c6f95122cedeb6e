"""`export RUN --push REPO_ID`: the exported folder uploaded to the Hugging Face Hub (huggingface_hub).

The folder is written locally first and stays whatever happens to the upload, so a failed push
loses nothing: the message says how to upload the same folder again."""

from __future__ import annotations

from pathlib import Path

from finetune.errors import InputError


def check_repo_id(repo_id: str) -> None:
    """Before anything is exported: a repo id the Hub would refuse stops the command here."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise InputError(f"--push {repo_id!r}: not a Hub repo id ({exc}). Give NAME or USER/NAME, e.g. "
                         f"--push my-user/minilm-sst2.") from None


def push(folder: Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create the model repo when it does not exist (private when asked) and upload `folder` as one
    commit; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                                   commit_message=f"Upload {folder.name} (finetune export)")
    except Exception as exc:  # any failure of the network call: the export stays, the message says why
        raise InputError(f"{folder}: exported, but the push to {repo_id} failed: {_reason(exc)} "
                         f"Upload the folder again with `hf upload {repo_id} {folder} .`, or rerun the export "
                         f"with --push.") from None
    return str(getattr(commit, "commit_url", None) or f"https://huggingface.co/{repo_id}")


def _reason(exc: Exception) -> str:
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set (offline mode). Unset it on a machine that reaches huggingface.co."
    if isinstance(exc, LocalTokenNotFoundError):
        return "no Hub token. Log in with `hf auth login`, or set HF_TOKEN to a token with write access."
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return (f"the Hub refused the token (HTTP {status}): {first} Use a token with write access to "
                    f"the repo's owner (`hf auth login`, or HF_TOKEN).")
        return f"the Hub answered HTTP {status}: {first}"
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0].startswith("httpx"):
        return f"huggingface.co cannot be reached ({first})."
    return f"{type(exc).__name__}: {first}"
