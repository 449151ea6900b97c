"""Parameters that were renamed: the old spelling is refused with the new name.

One word, one meaning (DESIGN.md §2): a name that meant different things in different
classes was renamed, and a caller who still uses it gets a ``TypeError`` that names the new
spelling, never a silent default.
"""

from __future__ import annotations

import functools

__all__ = ["RENAMED_PARAMETERS", "refuses_renamed"]

# The explainers' renamed parameters: old name -> (new name, why).
RENAMED_PARAMETERS = {
    "n_jobs": ("n_threads", "in scikit-learn n_jobs counts parallel jobs; these are threads"),
}


def refuses_renamed(renamed: dict[str, tuple[str, str]]):
    """Decorate a constructor (or classmethod's function) so that a keyword ``renamed``
    maps (old name -> (new name, why)) raises ``TypeError`` naming the new spelling.

    The signature seen by ``inspect`` (and so by scikit-learn's ``get_params`` and
    ``clone``) stays the constructor's own: no catch-all ``**kwargs`` parameter appears.
    """

    def decorate(function):
        @functools.wraps(function)
        def checked(*args, **kwargs):
            for old, value in kwargs.items():
                if old in renamed:
                    new, why = renamed[old]
                    owner = function.__qualname__.replace(".__init__", "")
                    raise TypeError(f"{owner}({old}=...) is now spelled {new}=...: pass "
                                    f"{new}={value!r} instead ({why}).")
            return function(*args, **kwargs)

        return checked

    return decorate
