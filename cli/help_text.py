"""Help as people read it: each paragraph of a command's or option's help (hard-wrapped in
the source) flows to the terminal's width, and flags show no ``<bool>`` type."""

import inspect
from typing import Any

from typer.core import TyperGroup


def unwrap(text: str) -> str:
    """``text`` with the lines of each paragraph joined; blank lines still part paragraphs."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def tidy(command: Any, ctx: Any) -> None:
    """Unwrap the help of ``command``, its parameters and its subcommands (recursively), and
    give its flags (on/off or counted) an empty type. Typer's command classes are private."""
    if command.help:
        command.help = unwrap(command.help)
    for param in command.get_params(ctx):
        if getattr(param, "help", None):
            param.help = unwrap(param.help)
        if (getattr(param, "is_flag", False) or getattr(param, "count", False)) and param.metavar is None:
            param.metavar = ""
    if isinstance(command, TyperGroup):
        for subcommand in command.commands.values():
            tidy(subcommand, ctx)


class TidyHelpGroup(TyperGroup):
    """A group whose own help and every subcommand's is tidied before it is shown or run."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            tidy(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        tidy(self, ctx)
        super().format_help(ctx, formatter)
