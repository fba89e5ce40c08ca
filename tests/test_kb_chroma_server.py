"""Two replicas sharing a real Chroma server on loopback (TRIOPS_CHROMA_URL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from knowledge import index
from knowledge.index import KnowledgeBase, make_client
from tests.kb_fixtures import shared_embedding, write_corpus
from tests.realservices import free_port
from tools.settings import Settings


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    if not Path(exe).exists():
        pytest.skip("the chroma CLI (from the chromadb package) is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}  # loopback only, whatever the version
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("chroma server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_replicas_share_one_index(chroma_url: str, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(index, "REVISION_CHECK_SECONDS", 0.0)
    settings = Settings(TRIOPS_HOME=tmp_path / "home", TRIOPS_CHROMA_URL=chroma_url)
    a = KnowledgeBase(make_client(settings), shared_embedding())
    b = KnowledgeBase(make_client(settings), shared_embedding())
    assert b.search("disk almost full", k=1).hits == []  # empty index, nothing cached

    a.ingest_folder(write_corpus(tmp_path / "corpus"), name="team")
    hit = b.search("the filesystem is nearly full, no space left", k=1).hits[0]
    assert hit.doc_id == "team/storage/DiskAlmostFull.md"
    assert not (tmp_path / "home" / "chroma").exists()  # nothing stored locally

    a.remove_corpus("team")
    assert b.search("the filesystem is nearly full", k=1).hits == []
