"""The ``hookgate`` command line: the root group, with each module's thin commands added to it.

Exit codes are a contract that scripts rely on: 0 success (``verify``: the request is genuine), 1 the request
is not genuine or the API or store refused or could not be reached (one-line reason on stderr), 2 a usage or
configuration error.
"""

from __future__ import annotations

import click

from hookgate.cli import (
    apps,
    endpoints,
    engine,
    event_types,
    listen,
    messages,
    signing,
    sources,
    tail,
    tasks,
    tokens,
)

__all__ = ["main"]


@click.group()
@click.version_option(package_name="hookgate")
def main() -> None:
    """hookgate: webhooks you can trust in both directions."""


for _module in (
    signing,
    engine,
    apps,
    endpoints,
    event_types,
    messages,
    tasks,
    tail,
    listen,
    sources,
    tokens,
):
    for _name in _module.__all__:
        main.add_command(getattr(_module, _name))
