"""Which of assay's extras installs a module that is not there.

Services import optional libraries lazily, and most say themselves which extra to install
(`assay.errors.require`). This is the net under them, for the CLI and the server alike: a
`ModuleNotFoundError` for a library that one of assay's extras installs becomes a
`MissingExtra` naming it (one line, or a 501), not a traceback or a 500. The extras are read
from the installed package's own metadata, so they cannot drift from pyproject.toml.
"""

from __future__ import annotations

import re
from importlib import metadata

from assay.errors import MissingExtra

# Import names that are not their distribution's name with "_" for "-".
_DISTRIBUTION = {
    "sklearn": "scikit-learn",
    "nats": "nats-py",
    "argon2": "argon2-cffi",
    "multipart": "python-multipart",
    "python_multipart": "python-multipart",
}
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9._-]+)[^;]*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]")
_DEVELOPMENT = {"dev"}  # the test suite's peers, never what a user is told to install


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def extras_of(module: str) -> list[str]:
    """The extras (in pyproject order) that install the top-level `module`, or [] when none
    does (or the package's metadata cannot be read)."""
    top = module.split(".", 1)[0]
    wanted = _normal(_DISTRIBUTION.get(top, top))
    try:
        requires = metadata.requires("assay") or []
    except metadata.PackageNotFoundError:  # run from a source tree never installed
        return []
    found: list[str] = []
    for line in requires:
        m = _REQUIREMENT.match(line)
        if m and _normal(m.group(1)) == wanted and m.group(2) not in _DEVELOPMENT:
            found.append(m.group(2))
    return list(dict.fromkeys(found))


def as_missing_extra(exc: ModuleNotFoundError) -> MissingExtra | None:
    """`exc` as the `MissingExtra` naming the extra that installs its module, or None when no
    extra of assay's does (then it is a fault, shown as such)."""
    if not exc.name:
        return None
    extras = extras_of(exc.name)
    if not extras:
        return None
    top = exc.name.split(".", 1)[0]
    return MissingExtra(
        f"{top} is not installed; install it with: pip install 'assay[{extras[0]}]'"
    )
