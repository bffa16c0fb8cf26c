"""The command line: each command parses options, calls the library, prints, picks an exit
code. Exit codes: 0 done, 1 a check failed, 2 could not run (bad spec or option), 3 a bug.

One module per group of commands; app.py holds the typer app and what every command shares,
options.py the options they share (declared once) and their choices (cnncost.core.settings).
The commands are registered here, in the order ``cnncost --help`` lists them."""

from __future__ import annotations

from cnncost.cli import (analyze_commands, chart_commands, check_commands, device_commands,
                         onnx_commands, sweep_commands)
from cnncost.cli.app import app, main
from cnncost.cli.options import CheckFormat, Dtype, Format, Fuse, SweepFormat, ToolConvention

__all__ = ["app", "main", "CheckFormat", "Dtype", "Format", "Fuse", "SweepFormat",
           "ToolConvention"]

COMMANDS = {
    "analyze": analyze_commands.analyze,
    "guidelines": analyze_commands.guidelines,
    "compare": check_commands.compare,
    "check": check_commands.check,
    "import": onnx_commands.import_model,
    "export": onnx_commands.export,
    "sweep": sweep_commands.sweep,
    "devices": device_commands.devices,
    "measure": device_commands.measure,
    "calibrate": device_commands.calibrate,
    "ops": analyze_commands.ops,
    "specs": analyze_commands.specs,
    "docs": analyze_commands.docs,
    "explain": analyze_commands.explain,
    "report": chart_commands.html_report,
}
for _name, _function in COMMANDS.items():
    app.command(_name)(_function)
app.add_typer(chart_commands.plot_app, name="plot")
