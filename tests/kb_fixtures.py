"""Shared helpers for the knowledge-base tests: one model load per test session."""

from __future__ import annotations

import functools
from pathlib import Path

from knowledge.embedding import MiniLMEmbedding
from knowledge.index import KnowledgeBase


@functools.cache
def shared_embedding() -> MiniLMEmbedding:
    return MiniLMEmbedding().load()


def open_kb(path: Path) -> KnowledgeBase:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    return KnowledgeBase(client, shared_embedding())


RUNBOOKS = {
    "storage/DiskAlmostFull.md": """---
title: Disk Almost Full
---

# DiskAlmostFull

## Meaning

The filesystem of a node is almost full: less than 5 % of its space is left.

## Diagnosis

Find the largest directories on the volume:

```shell
$ du -xh /var | sort -h | tail
```

## Mitigation

- Remove old container images with `crictl rmi --prune`.
- Grow the volume.
""",
    "apps/PodCrashLooping.md": """# PodCrashLooping

## Meaning

A container keeps crashing and Kubernetes restarts it again and again (CrashLoopBackOff).

## Diagnosis

- Check the logs with `kubectl -n $NAMESPACE logs $POD --previous`.
- Look at the events of the pod.

## Mitigation

Roll back the last deployment of the application.
""",
    "db/ReplicationLagHigh.md": """# ReplicationLagHigh

## Meaning

The database replica is far behind the primary; reads from it return stale data.

## Diagnosis

Compare the write-ahead log positions of the primary and the replica.

## Mitigation

Reduce the write load on the primary or add network bandwidth between the two hosts.
""",
    "net/CertificateExpiringSoon.md": """# CertificateExpiringSoon

## Meaning

A TLS certificate served by an ingress expires in less than seven days.

## Mitigation

Renew the certificate with cert-manager and check the secret was updated.
""",
}


def write_corpus(root: Path, files: dict[str, str] | None = None) -> Path:
    for rel, text in (files or RUNBOOKS).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root
