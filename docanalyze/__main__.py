"""``python -m docanalyze`` and the ``docanalyze`` command: the command line, started quickly.

The garbage collector is paused while the command line and its libraries load (the Claude SDK
alone makes about 200,000 objects, and collecting them over and over as they load is wasted
start-up time); :func:`docanalyze.cli.app.freeze_startup_heap` freezes what was loaded and
resumes it before a run starts, and it resumes when the command ends.
"""

import gc


def run() -> None:
    """Console-script entry point."""
    gc.disable()
    try:
        from docanalyze.cli import main

        main()
    finally:
        gc.enable()


if __name__ == "__main__":
    run()
