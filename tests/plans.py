"""Reading PostgreSQL's plans in tests that check a page is answered from an index."""

import re


def sorts_rows(plan: str) -> bool:
    """Whether the plan sorts the rows it read; an incremental sort of rows read in order of their first key
    (the same time, the same name) is what an index in that order leaves to do."""
    return re.search(r"^\s*(->\s+)?Sort\s+\(", plan, re.MULTILINE) is not None
