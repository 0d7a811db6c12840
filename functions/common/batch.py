"""The partial-batch answer Lambda's event source mappings understand (ReportBatchItemFailures)."""

from __future__ import annotations

from collections.abc import Iterable


def item_failures(sequence_numbers: Iterable[str]) -> dict:
    """`{"batchItemFailures": [{"itemIdentifier": seq}, ...]}`, each once, lowest first; empty means success.

    Lambda checkpoints at the lowest failed sequence number and re-delivers from there."""
    unique = sorted(set(sequence_numbers), key=lambda s: (len(s), s))  # numeric order of decimal strings
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in unique]}
