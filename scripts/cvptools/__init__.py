"""cvptools: read cvpbench results and turn them into charts, reports, comparisons and CI verdicts.

Only `cli` and the command modules in `commands/` parse arguments, print and choose exit codes;
the other modules take loaded documents and options and return results (raising CvpError on bad
input), though some also read and write files, hold a database or run the gate's binaries for
their command (see scripts/README.md). Heavy imports (numpy, scipy, matplotlib) are kept out of
`runio` and `results` so that bad input is rejected before they load.
"""

__version__ = "0.1.0"


class CvpError(Exception):
    """A problem the user can fix (bad input, refused overwrite). The message is one line."""
