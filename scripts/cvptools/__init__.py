"""cvptools: read cvpbench results and turn them into charts, reports, comparisons and CI verdicts.

Every module is a set of pure functions over loaded documents; `cli` is the only place that
parses arguments, prints and chooses exit codes. Heavy imports (numpy, scipy, matplotlib) are
kept out of `io` and `results` so that bad input is rejected before they load.
"""

__version__ = "0.1.0"


class CvpError(Exception):
    """A problem the user can fix (bad input, refused overwrite). The message is one line."""
