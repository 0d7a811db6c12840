"""Pure logic opsctl shares with the Lambda functions (STYLE.md: opsctl imports from functions/ only what
both truly need). The functions are not an installed package; Lambda puts the zip's root (functions/) on
the path, and so do we, at the end of sys.path so nothing of ours is shadowed.

`capacity_report` (metrics, stream shard maths, DynamoDB capacity, the report) lives there because the
scheduled function and `opsctl capacity` / `opsctl report` must run the same code."""

from __future__ import annotations

import sys

from opsctl.core.project import FUNCTIONS_DIR


def use_functions() -> None:
    """Makes `import capacity_report` (and the other packages of functions/) work in this process."""
    path = str(FUNCTIONS_DIR)
    if path not in sys.path:
        sys.path.append(path)


use_functions()
