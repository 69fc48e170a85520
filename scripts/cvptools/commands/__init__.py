"""The `cvp` commands, a module each: `add_parser(sub)` adds the command's parser (its handler
set as the `handler` default) and its run function takes the parsed arguments and returns the
exit code. COMMANDS is their order in `cvp --help`."""

from . import compare, dashboard, db, export, gate, history, plot, report, timeline

COMMANDS = (plot, timeline, report, compare, gate, export, db, history, dashboard)
