"""The install command to print in a hint, in the form that fits how adkit is installed.

From a source checkout (an editable install, or the tree on sys.path) the extra is
added with `pip install -e "CHECKOUT[extra]"`; from an installed wheel with
`pip install "adkit[extra]"`, since there is no checkout to point at.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pip_install", "source_checkout"]


def source_checkout() -> Path | None:
    """The checkout this adkit runs from (the folder with pyproject.toml and adkit/), or
    None for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "adkit").is_dir() else None


def pip_install(extra: str) -> str:
    """The command that adds adkit's optional `extra` here.

    >>> pip_install("examples") in ('pip install "adkit[examples]"',
    ...                             f'pip install -e "{source_checkout()}[examples]"')
    True
    """
    root = source_checkout()
    return f'pip install -e "{root}[{extra}]"' if root else f'pip install "adkit[{extra}]"'
