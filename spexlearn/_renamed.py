"""Parameters that were renamed: the old spelling is refused with the new name.

One word, one meaning (DESIGN.md §2): a name that meant different things in different
classes was renamed, and a caller who still uses it gets a ``TypeError`` that names the new
spelling, never a silent default.
"""

from __future__ import annotations

__all__ = ["refuse_renamed"]


def refuse_renamed(owner: str, given: dict, renamed: dict[str, tuple[str, str]]) -> None:
    """Raise ``TypeError`` for any keyword in ``given`` (the ``**kwargs`` a constructor
    caught): naming the new spelling where ``renamed`` maps the old one to it (with the
    reason for the change), else as Python does for an unknown keyword."""
    for old in given:
        if old in renamed:
            new, why = renamed[old]
            raise TypeError(
                f"{owner}({old}=...) is now spelled {new}=...: pass {new}={given[old]!r} "
                f"instead ({why})."
            )
    if given:
        raise TypeError(f"{owner}() got an unexpected keyword argument {next(iter(given))!r}")
