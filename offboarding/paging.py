"""Pages of a long list of cases that count no further than a person can read.

An exact COUNT(*) reads every matching row, a million of them on an unfiltered history; counting stops at
`LIMIT` instead, and past it the page says "more than 1,000" and pages through the first 1,000 only (an
OFFSET deeper than that reads as many rows again). Counting costs as many rows as it finds, in whatever
order the database finds them fastest: a thousand leaves enough to say "narrow the search", and for the
page to read in time when few of the cases match. The export has every match.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db.models import QuerySet

LIMIT = 1_000


class CappedPaginator(Paginator):
    def __init__(self, object_list: QuerySet, per_page: int, limit: int = LIMIT) -> None:
        super().__init__(object_list, per_page)
        self.limit = limit

    @cached_property
    def matches(self) -> int:
        """How many rows match, counted up to one past the limit; the order does not change the number."""
        return self.object_list.order_by()[: self.limit + 1].count()

    @property
    def more(self) -> bool:
        """Whether more rows match than the pages reach."""
        return self.matches > self.limit

    @cached_property
    def count(self) -> int:
        """The rows the pages reach."""
        return min(self.matches, self.limit)

    @property
    def reach(self) -> str:
        """How many rows the pages reach at most, as a page says it: "1,000"."""
        return f"{self.limit:,}"

    @property
    def counted(self) -> str:
        """The number of matches as a page says it: "3", or "more than 1,000"."""
        return f"more than {self.reach}" if self.more else f"{self.matches:,}"
