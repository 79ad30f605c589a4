"""The app, its global options, and the one place where failures become lines and statuses.

Library errors (NnmnistError) become one 'error: ...' line on stderr and exit status 1 (3 when
a data source cannot be reached); usage errors one 'error: ...' line, perhaps a second with a
suggestion, and exit status 2; Ctrl-C exits 130. `--help` keeps Typer's full panel.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import warnings
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from nnmnist import __version__
from nnmnist.cli.quick import ABOUT
from nnmnist.errors import InputNotice, NnmnistError

F = TypeVar("F", bound=Callable[..., Any])


class _Group(TyperGroup):
    """Typer's group, with usage errors in the house style (one line, and a hint) instead of
    Typer's panel, whether the command runs from the shell or under CliRunner."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        _plain_help(self)
        run = functools.partial(super().main, args, prog_name, complete_var, **extra)
        if not standalone_mode:
            return run(standalone_mode=False)
        click = _click_exceptions()
        try:
            status = run(standalone_mode=False)
        except click.NoArgsIsHelpError:
            status = _show_help()
        except click.ClickException as exc:
            from nnmnist.present import terminal as render

            lines = usage_lines(exc)
            render.error(lines[0][len("error: ") :])
            for line in lines[1:]:
                render.message(line)
            status = exc.exit_code
        except typer.Abort:
            status = 130
        sys.exit(status if isinstance(status, int) else 0)


app = typer.Typer(
    name="nnmnist",
    cls=_Group,
    help=ABOUT,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_debug = False


def _broken_pipe() -> None:
    # The reader went away (| head -1): stop quietly, and keep Python from complaining at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def reports_errors(func: F) -> F:
    """Run a command as one run (its inputs tracked, its own files known to the writer) and
    turn what it raises into one stderr line and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from nnmnist.io import atomic, reading

        reading.start_run()  # each command is one run (tests invoke several in a process)
        atomic.forget_created()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default", InputNotice)  # once per message
                warnings.showwarning = _show_notice
                return _run(func, *args, **kwargs)
        finally:
            reading.end_run()

    return wrapper  # type: ignore[return-value]


_show_warning = warnings.showwarning


def _show_notice(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """InputNotice warnings become one 'note:' line; anything else is shown as Python would."""
    if issubclass(category, InputNotice):
        from nnmnist.present import terminal as render

        render.message(f"note: {message}")
    else:
        _show_warning(message, category, *args, **kwargs)


def _clean_up() -> None:
    """A failed run leaves no empty output folder it made itself (its files are whole or
    absent: the writer sees to that)."""
    from nnmnist.io import atomic

    atomic.remove_empty_own_folders()


def _run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a command; turn what it raises into one line on stderr and an exit status."""
    from nnmnist.present import terminal as render

    try:
        return func(*args, **kwargs)
    except typer.Exit as exc:
        if exc.exit_code:  # failed (some inputs, say): its empty folders go too
            _clean_up()
        raise
    except (typer.Abort, typer.BadParameter):
        raise
    except NnmnistError as exc:
        _clean_up()
        if _debug:
            raise
        render.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except MemoryError:
        _clean_up()
        if _debug:
            raise
        render.error("out of memory: try a smaller --batch-size")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        _clean_up()
        render.error("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        _broken_pipe()
        raise typer.Exit(0) from None
    except Exception as exc:
        if _debug:
            raise
        render.error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nnmnist {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something goes wrong.")
    ] = False,
) -> None:
    """MNIST batch inference with neural networks (MLPs and ConvNets) written from scratch in NumPy.

    Start with `nnmnist evaluate`, `nnmnist predict FILE` or `nnmnist train`.
    """
    global _debug
    _debug = debug


# Click words its messages for programmers; these say the same for people.
def _out_of_range(match: re.Match[str]) -> str:
    """Click's "0 is not in the range 1<=x<=1000." said as the bound that was crossed."""
    value, bounds = float(match.group(1)), match.group(2)
    low = re.search(r"^(\S+?)(<=?)x|x(>=?)(\S+)$", bounds)  # "1<=x..." or "x>=1"
    if low is not None:
        if low.group(1):
            bound, strict = low.group(1), low.group(2) == "<"
        else:
            bound, strict = low.group(4), low.group(3) == ">"
        if value < float(bound) or (strict and value == float(bound)):
            return f"must be {'more than' if strict else 'at least'} {bound}"
    high = re.search(r"x(<=?)(\S+)$", bounds)
    if high is not None:
        return f"must be {'less than' if high.group(1) == '<' else 'at most'} {high.group(2)}"
    return match.group(0)  # pragma: no cover - Click fails only outside a bound


_REWORDS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"^(\S+) is not in the range (\S+?)\.?$"), _out_of_range),
    (
        re.compile(r"^'(.*)' is not a valid int(eger)?( range)?$"),
        r"must be a whole number (not '\1')",
    ),
    (re.compile(r"^'(.*)' is not a valid float( range)?$"), r"must be a number (not '\1')"),
]


def _click_exceptions() -> Any:
    try:  # Typer vendors Click since 0.2x
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - older Typer, with Click itself
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


def usage_lines(exc: Any) -> list[str]:
    """A Click usage error as one 'error:' line, and a second with a suggestion if one helps."""
    click = _click_exceptions()
    ctx = getattr(exc, "ctx", None)
    where = f"nnmnist {ctx.info_name}" if ctx is not None and ctx.parent is not None else "nnmnist"
    help_hint = f"try '{where} --help'"
    if isinstance(exc, click.NoSuchOption):
        import difflib

        close = difflib.get_close_matches(exc.option_name, exc.possibilities or [], n=1, cutoff=0)
        hint = f"did you mean {close[0]}?" if close else help_hint
        return [f"error: {where} has no option {exc.option_name}", hint]
    if isinstance(exc, click.BadParameter):
        message = " ".join(exc.message.split()).rstrip(".")
        for pattern, replacement in _REWORDS:
            message = pattern.sub(replacement, message)
        name = _param_name(exc.param) if exc.param is not None else (exc.param_hint or "")
        name = name if isinstance(name, str) else "/".join(name)
        return [f"error: {name + ': ' if name else ''}{message}", help_hint]
    if isinstance(exc, click.UsageError):
        message = " ".join(exc.format_message().split()).rstrip(".")
        if ". Did you mean " in message:  # Click's own suggestion: the second line
            message, suggestion = message.split(". Did you mean ", 1)
            return [f"error: {message[0].lower()}{message[1:]}", f"did you mean {suggestion}"]
        if message.startswith("No such command"):
            return [f"error: {message[0].lower()}{message[1:]}", "try 'nnmnist --help'"]
        return [f"error: {message[0].lower()}{message[1:]}", help_hint]
    return [f"error: {' '.join(exc.format_message().split())}"]


def _param_name(param: Any) -> str:
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return opts[0] if opts else str(getattr(param, "human_readable_name", "")).upper()


def main() -> None:
    """Entry point of the `nnmnist` command."""
    try:
        app(prog_name="nnmnist")
    except BrokenPipeError:  # pragma: no cover - raised while flushing at exit
        _broken_pipe()
        sys.exit(0)
    except SystemExit as exc:
        _hard_exit_if_needed(exc.code if isinstance(exc.code, int) else 1)
        raise


def _plain_help(group: Any) -> None:
    """Help without type placeholders on flags (Typer shows '<bool>' for --force) and with
    '<int range>' said as the range alone. Done once per command."""
    for command in [group, *getattr(group, "commands", {}).values()]:
        if getattr(command, "_nnmnist_plain_help", False):
            continue
        command._nnmnist_plain_help = True
        command.get_help_option = _without_placeholder(command.get_help_option)
        for param in command.params:
            if _placeholder_only(param):
                param.make_metavar = _no_metavar


def _no_metavar(*args: Any, **kwargs: Any) -> str:
    return ""


def _placeholder_only(param: Any) -> bool:
    """A flag, or a number whose range the help shows anyway."""
    if getattr(param, "is_flag", False):
        return True
    return hasattr(param.type, "_describe_range") and not getattr(param, "is_argument", False)


def _without_placeholder(get_help_option: Any) -> Any:
    def wrapped(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None:
            option.make_metavar = _no_metavar
        return option

    return wrapped


def _show_help() -> int:
    """`nnmnist` alone: the full help panel, as Typer draws it."""
    try:
        TyperGroup.main(typer.main.get_command(app), ["--help"], prog_name="nnmnist")  # type: ignore[arg-type]
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def _hard_exit_if_needed(code: int) -> None:
    """After a Dask client failed (or Ctrl-C stopped one), end the process at once: its threads
    and finalisers would print tracebacks at interpreter exit, after the one error line."""
    distributed = sys.modules.get("nnmnist.engines.distributed")
    if distributed is not None and getattr(distributed, "needs_hard_exit", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
