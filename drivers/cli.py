"""``thermometer`` click group: a thin shell over :mod:`drivers.probe` and the reader thread.

Listed in kiosk/cli.py's SUBCOMMANDS (``kiosk thermometer probe PORT``). The protocols and
their options come from drivers/registry.py. Exit codes: 0 ok, 2 nothing answered (or the
port could not be opened).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from drivers.probe import probe as run_probe
from drivers.reader import ReaderEvent, ReadingEvent, StateEvent, ThermometerReader
from drivers.registry import PROTOCOLS, SPECS, make_thermometer
from drivers.thermometer import PortUnavailable
from kiosk.core.screening import Reading, ReadingState

EXIT_NOTHING_ANSWERED = 2


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_reading(reading: Reading) -> str:
    """One output line: state, object °C, ambient °C (tab separated, '-' when absent)."""
    return f"{reading.state}\t{_fmt(reading.object_c)}\t{_fmt(reading.ambient_c)}"


F = TypeVar("F", bound=Callable[..., Any])


def driver_options(f: F) -> F:
    """One click option per driver option of the registered protocols (drivers/registry.py),
    its help naming the protocols that take it."""
    found: dict[str, tuple[Any, list[str], str]] = {}
    for spec in SPECS:
        for opt in spec.options:
            kind = click.Choice(opt.choices) if opt.choices else opt.type
            _, names, _ = found.setdefault(opt.name, (kind, [], opt.help))
            names.append(spec.name)
    for name, (kind, protocols, text) in reversed(found.items()):
        f = click.option(f"--{name.replace('_', '-')}", name, type=kind,
                         help=f"{', '.join(protocols)} only: {text}")(f)
    return f


@click.group("thermometer")
def thermometer() -> None:
    """Serial IR thermometer: find it, read it."""


@thermometer.command("probe")
@click.argument("port")
@click.option(
    "--listen",
    "listen_s",
    type=float,
    default=2.5,
    show_default=True,
    help="Seconds to listen at each baud rate (an Arduino needs ~2 s to boot).",
)
@click.pass_context
def probe_command(ctx: click.Context, port: str, listen_s: float) -> None:
    """Try every supported protocol and baud rate on PORT and say which one answers."""
    try:
        result = run_probe(port, listen_s=listen_s)
    except PortUnavailable as exc:
        click.echo(f"cannot open {port}: {exc}", err=True)
        ctx.exit(EXIT_NOTHING_ANSWERED)
    if result is None:
        click.echo(f"nothing answered on {port}", err=True)
        ctx.exit(EXIT_NOTHING_ANSWERED)
    click.echo(str(result))


@thermometer.command("read")
@click.argument("port")
@click.option("--protocol", "-p", type=click.Choice(PROTOCOLS), required=True,
              help="The wire protocol (see: kiosk thermometer probe PORT).")
@click.option("--baud", type=int, help="Default: the protocol's factory rate.")
@click.option("--count", "-n", type=int, help="Stop after N readings (default: until Ctrl-C).")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=5.0,
    show_default=True,
    help="Give up (exit 2) if nothing answered within this many seconds.",
)
@driver_options
@click.pass_context
def read_command(
    ctx: click.Context,
    /,
    port: str,
    protocol: str,
    baud: int | None,
    count: int | None,
    timeout_s: float,
    **driver_options: Any,
) -> None:
    """Print readings from PORT live, one per line: state, object, ambient (Ctrl-C stops)."""
    options = {key: value for key, value in driver_options.items() if value is not None}
    try:
        device = make_thermometer(protocol, port, baud=baud, **options)
    except TypeError as exc:
        raise click.UsageError(f"option not valid for {protocol}: {exc}") from exc
    events: queue.Queue[ReaderEvent] = queue.Queue()
    answered = False
    printed = 0
    started = time.monotonic()
    reader = ThermometerReader(device, events.put)
    reader.start()
    try:
        while count is None or printed < count:
            if not answered and time.monotonic() - started > timeout_s:
                break
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(event, StateEvent):
                click.echo(f"# {event.state} {event.detail}".rstrip(), err=True)
            elif isinstance(event, ReadingEvent):
                click.echo(format_reading(event.reading))
                if event.reading.state is not ReadingState.NO_TARGET:
                    answered = True
                    printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop()
    if not answered:
        click.echo(f"nothing answered on {port}", err=True)
        ctx.exit(EXIT_NOTHING_ANSWERED)
