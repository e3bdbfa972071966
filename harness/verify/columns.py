"""Which columns of the changed rows differ, with example keys: the rollback check's explanation of "changed".

Snapshots keep, next to each row's checksum, one 32-bit hash per column (verify.data); for the rows whose
checksums differ, this compares those column by column.
"""

from __future__ import annotations

import pandas as pd

EXAMPLES = 5


def column_changes(before: pd.DataFrame | None, after: pd.DataFrame | None,
                   changed: list[str]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(column -> how many of the `changed` keys differ in it, column -> up to EXAMPLES of those keys), over the
    columns both hash frames (indexed by key) have; empty when either moment kept no column hashes."""
    if before is None or after is None or not changed:
        return {}, {}
    columns = [c for c in before.columns if c in after.columns]
    keys = pd.Index(changed).intersection(before.index).intersection(after.index)
    left, right = before.loc[keys, columns], after.loc[keys, columns]
    differs = left.to_numpy() != right.to_numpy()
    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    for position, column in enumerate(columns):
        mask = differs[:, position]
        if mask.any():
            counts[column] = int(mask.sum())
            examples[column] = [str(k) for k in keys[mask][:EXAMPLES]]
    return counts, examples
