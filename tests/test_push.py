"""export --push REPO_ID: the exported folder uploaded through huggingface_hub, with no network:
HfApi's two calls are replaced by recorders (or refusals), and the real client is run offline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import run_cli, tiny_args

from finetune.cli import main

REPO = "my-user/tiny-sst2"


@pytest.fixture(scope="module")
def run(tiny_bert, sentiment_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("push")
    result = run_cli("train", "sst2", *tiny_args(sentiment_data, tiny_bert, out / "runs", train__epochs=1))
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "runs" / "tiny"


@pytest.fixture
def hub(monkeypatch):
    """HfApi.create_repo and upload_folder recorded; the upload notes what the folder held then."""
    from huggingface_hub import HfApi

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        from pathlib import Path

        folder = Path(folder_path)
        calls.append(("upload_folder", repo_id, {**kwargs, "folder": folder,
                                                 "files": sorted(p.name for p in folder.iterdir()),
                                                 "card": (folder / "README.md").read_text()}))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/abc123")

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_creates_the_repo_and_uploads_the_exported_folder(run, hub, tmp_path, capsys):
    folder = tmp_path / "export"
    assert main(["export", str(run), "--out", str(folder), "--push", REPO, "--private"]) in (0, None)
    (create, repo, options), (upload, uploaded_to, upload_options) = hub
    assert (create, repo, options["private"], options["exist_ok"], options["repo_type"]) == \
        ("create_repo", REPO, True, True, "model")
    assert (upload, uploaded_to, upload_options["folder"], upload_options["repo_type"]) == \
        ("upload_folder", REPO, folder, "model")
    assert {"config.json", "model.safetensors", "README.md", "metrics.json", "finetune.yaml"} <= set(upload_options["files"])
    card = upload_options["card"]
    assert f'model="{REPO}"' in card and f"# {REPO}" in card  # the card's code loads the repo, not the folder
    assert str(folder) not in card
    out = capsys.readouterr().out
    assert f"Pushed {folder} to the Hub: https://huggingface.co/{REPO}/commit/abc123" in out


def test_without_push_the_card_names_the_folder_and_nothing_is_uploaded(run, hub, tmp_path):
    folder = tmp_path / "plain-export"
    assert main(["export", str(run), "--out", str(folder)]) in (0, None)
    assert hub == [] and 'model="plain-export"' in (folder / "README.md").read_text()


def test_a_refused_token_exits_2_and_keeps_the_export(run, monkeypatch, tmp_path, capsys):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    def refuse(self, repo_id, **kwargs):
        response = SimpleNamespace(status_code=401, headers={}, request=None)
        raise HfHubHTTPError("401 Client Error: Unauthorized for url: https://huggingface.co/api/repos/create",
                             response=response)

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    folder = tmp_path / "export"
    assert main(["export", str(run), "--out", str(folder), "--push", REPO]) == 2
    err = capsys.readouterr().err
    assert f"exported, but the push to {REPO} failed: the Hub refused the token (HTTP 401)" in err
    assert f"hf upload {REPO} {folder} ." in err and "Traceback" not in err
    assert (folder / "model.safetensors").is_file()


def test_offline_push_exits_2_naming_offline_mode_and_keeps_the_export(run, tmp_path):
    """The real client, HF_HUB_OFFLINE=1 (as every test runs): no request leaves the machine."""
    folder = tmp_path / "export"
    result = run_cli("export", str(run), "--out", str(folder), "--push", REPO, env={"HF_TOKEN": "hf_not_a_real_token"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "HF_HUB_OFFLINE is set (offline mode)" in result.stderr and "Traceback" not in result.stderr
    assert f"Exported {run} -> {folder}" in result.stdout and (folder / "model.safetensors").is_file()


@pytest.mark.parametrize("args, message", [
    (["--push", "not a repo"], "--push 'not a repo': not a Hub repo id"),
    (["--push", "a/b/c"], "--push 'a/b/c': not a Hub repo id"),
    (["--private"], "--private is for --push REPO_ID"),
])
def test_bad_push_arguments_exit_2_before_anything_is_written(run, tmp_path, capsys, args, message):
    folder = tmp_path / "export"
    assert main(["export", str(run), "--out", str(folder), *args]) == 2
    assert message in capsys.readouterr().err
    assert not folder.exists()
