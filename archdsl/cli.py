"""The ``archdsl`` command line. Thin: each command calls archdsl.api and renders."""

from __future__ import annotations

import os
import sys

import click

from archdsl import __version__
from archdsl.diagnostics import Diagnostic, Severity, render_github, render_json, render_text

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _strict(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [
        Diagnostic(Severity.ERROR, d.message, d.location, d.code, d.hint, d.notes)
        if d.severity is Severity.WARNING
        else d
        for d in diagnostics
    ]


def _emit(diagnostics: list[Diagnostic], sources: dict[str, str], fmt: str, stream) -> None:
    if fmt == "json":
        stream.write(render_json(diagnostics))
    elif fmt == "github":
        stream.write(render_github(diagnostics))
    else:
        stream.write(render_text(diagnostics, sources))


def _load_program(spec: str, model_name: str | None):
    """Check ``spec`` for a command that needs its IR: diagnostics go to stderr, and the
    process exits (1 on errors, 2 if unreadable or the model does not exist)."""
    from archdsl.api import SourceError, check_file

    try:
        result = check_file(spec)
    except SourceError as exc:
        click.echo(f"archdsl: cannot read {exc}", err=True)
        sys.exit(EXIT_USAGE)
    diagnostics = result.reporter.sorted()
    if diagnostics:
        _emit(diagnostics, result.reporter.sources, "text", click.get_text_stream("stderr"))
    if not result.ok or result.program is None:
        sys.exit(EXIT_ERRORS)
    models = result.program.models
    if model_name is not None and model_name not in models:
        from archdsl.diagnostics import did_you_mean

        guess = did_you_mean(model_name, models)
        hint = f"; did you mean '{guess}'?" if guess else f" (models: {', '.join(models)})"
        click.echo(f"archdsl: no model '{model_name}' in {spec}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    return result.program


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="archdsl", message="%(prog)s %(version)s")
def main() -> None:
    """archdsl: write a neural-network architecture once, check its shapes, and generate
    Keras 3 or PyTorch code."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print diagnostics.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only diagnostics, no per-file summary.")
def check(paths: tuple[str, ...], fmt: str, strict: bool, quiet: bool) -> None:
    """Check the shapes of every model in PATHS (files, or directories searched for *.arch).

    Exit status: 0 when no errors (warnings allowed), 1 when errors were found, 2 when a
    path cannot be read.
    """
    from archdsl.api import SourceError, check_file, collect_specs

    files = collect_specs(list(paths))
    if not files:
        click.echo(f"archdsl: no .arch files found in {', '.join(paths)}", err=True)
        sys.exit(EXIT_USAGE)
    all_diagnostics: list[Diagnostic] = []
    sources: dict[str, str] = {}
    unreadable = 0
    summaries: list[str] = []
    for path in files:
        try:
            result = check_file(path)
        except SourceError as exc:
            click.echo(f"archdsl: cannot read {exc}", err=True)
            unreadable += 1
            continue
        diagnostics = result.reporter.sorted()
        if strict:
            diagnostics = _strict(diagnostics)
        all_diagnostics.extend(diagnostics)
        sources.update(result.reporter.sources)
        if result.program is not None and not any(d.severity is Severity.ERROR for d in diagnostics):
            models = ", ".join(f"{m.name} {m.param_count.total:,} params" for m in result.program.models.values())
            summaries.append(f"{path}: ok ({models or 'no models'})")
    errors = sum(1 for d in all_diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in all_diagnostics if d.severity is Severity.WARNING)
    out = click.get_text_stream("stdout")
    _emit(all_diagnostics, sources, fmt, out)
    if fmt == "text" and not quiet:
        for line in summaries:
            out.write(line + "\n")
        checked = len(files) - unreadable
        line = f"checked {checked} file{'s' if checked != 1 else ''}: {errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
        out.write(line + (f"; {unreadable} could not be read\n" if unreadable else "\n"))
    if unreadable:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_ERRORS if errors else EXIT_OK)


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--model", "model_name", help="The model to show (default: every model in the file).")
def summary(spec: str, model_name: str | None) -> None:
    """Print a per-layer table (name, layer, output shape, parameters) and totals."""
    from archdsl.summary import render_summary

    models = _load_program(spec, model_name).models
    selected = [models[model_name]] if model_name is not None else list(models.values())
    click.echo("\n".join(render_summary(m) for m in selected), nl=False)


@main.command(name="compile")
@click.argument("spec", type=click.Path())
@click.option(
    "--target", "-t", type=click.Choice(["keras", "torch"]), required=True, help="The framework to generate code for."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file (replaced as a whole) instead of stdout.",
)
@click.option("--model", "model_name", help="Generate only this model (and what it uses).")
def compile_command(spec: str, target: str, output: str | None, model_name: str | None) -> None:
    """Generate runnable Keras 3 or PyTorch code from SPEC.

    A spec with errors prints its diagnostics, writes nothing, and exits with status 1.
    """
    program = _load_program(spec, model_name)
    from archdsl.codegen import generate, write_atomic

    for message in _compile_warnings(program, target, model_name):
        click.echo(f"{spec}: warning: {message}", err=True)
    from archdsl.codegen import CodegenError

    try:
        text = generate(program, target, model_name, spec)
    except CodegenError as exc:
        where = f"{exc.location}: " if getattr(exc, "location", None) else f"{spec}: "
        click.echo(f"{where}error: the {target} target cannot express this exactly: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    if output is None:
        click.get_text_stream("stdout").write(text)
        return
    try:
        from pathlib import Path

        write_atomic(Path(output), text)
    except OSError as exc:
        click.echo(f"archdsl: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
@click.argument("spec", type=click.Path())
@click.option("--model", "model_name", help="Verify only this model.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=float, default=1e-4, show_default=True, help="Relative tolerance.")
def verify(spec: str, model_name: str | None, atol: float, rtol: float) -> None:
    """Prove that the generated Keras and PyTorch models compute the same function.

    Both targets are compiled and built; random Keras weights are copied into the PyTorch
    model, the same random inputs go through both in inference mode, and every output is
    compared. Exit status: 0 pass, 1 numeric mismatch (or spec errors), 2 a framework is
    missing.
    """
    program = _load_program(spec, model_name)
    from archdsl import verify as verifier

    try:
        reports = verifier.verify_program(program, spec, model_name, atol, rtol)
    except verifier.MissingFramework as exc:
        click.echo(f"archdsl verify needs Keras and PyTorch; missing: {exc}", err=True)
        click.echo(f"install them with: {verifier.INSTALL_HINT}", err=True)
        sys.exit(EXIT_USAGE)
    except verifier.VerifyError as exc:
        click.echo(f"archdsl: cannot compare the two models: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(verifier.render_reports(reports), nl=False)
    failed = [r for r in reports if not r.passed]
    if failed:
        click.echo(f"FAIL: {len(failed)} of {len(reports)} outputs differ beyond rtol={rtol:g}, atol={atol:g}")
        sys.exit(EXIT_ERRORS)
    agree = "1 output agrees" if len(reports) == 1 else f"{len(reports)} outputs agree"
    click.echo(f"pass: {agree} within rtol={rtol:g}, atol={atol:g}")


def _compile_warnings(program, target: str, model_name: str | None) -> list[str]:
    """Choices a target makes that the user should know about (e.g. recurrent_dropout in PyTorch)."""
    if target != "torch":
        return []
    from archdsl.targets.torch import compile_warnings

    return compile_warnings(program, model_name)


def run() -> None:
    """Console entry point: no Python traceback ever reaches the user."""
    try:
        main(standalone_mode=True)
        code: object = EXIT_OK
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        click.echo("archdsl: interrupted", err=True)
        code = 130
    except BaseException as exc:  # noqa: BLE001 - the last line of defence
        click.echo(f"archdsl: internal error: {exc.__class__.__name__}: {exc}", err=True)
        click.echo("This is a bug in archdsl; please report it with the spec that caused it.", err=True)
        code = 3
    _leave(code)


def _leave(code: object) -> None:
    """Flush the output and end the process without tearing down the heap.

    A normal exit frees every object one by one; after checking a 100k-layer graph that
    alone took half a second, longer than the interpreter's start. Nothing is left to
    clean up at this point: files are closed, and the output is flushed here.
    """
    if isinstance(code, str):  # sys.exit("message"), as Python prints it
        sys.stderr.write(code + "\n")
        code = 1
    status = code if isinstance(code, int) else (EXIT_OK if code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (archdsl ... | head): nothing to add
            pass
    os._exit(status & 0xFF)


if __name__ == "__main__":
    run()
