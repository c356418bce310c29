"""Paging of the console's lists: one page size for every list (a page asks its service for one
row more, to know whether a next page exists)."""

from __future__ import annotations

PAGE_SIZE = 25
"""Rows per page of every console list."""
