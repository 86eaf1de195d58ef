"""The ``station`` console script: the composition root.

It is the one place that knows both the UI and the services: it hands the
Textual app's factory to ``station.cli.main``, so the arrows stay
``screens -> station -> data`` and ``station`` never imports the UI. Textual is
imported only when the app really starts, never for a subcommand.
"""
from __future__ import annotations

import sys


def make_app(ctx):
    from screens.app import StationApp
    return StationApp(ctx)


def main(argv: list[str] | None = None) -> int:
    from station import cli
    return cli.main(argv, app_factory=make_app)


if __name__ == "__main__":
    sys.exit(main())
