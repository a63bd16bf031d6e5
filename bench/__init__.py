"""``make bench``: every stage of the raw-zone job timed against its bare baseline in the same run.

Absolute times drift on shared machines; a ratio against a baseline measured moments before does not.
"""

from __future__ import annotations
