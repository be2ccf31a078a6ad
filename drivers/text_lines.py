"""Text-line thermometers (Arduino + MLX90614 sketches, many home-built gate devices).

A typical block is ``Ambient = 25.33*C\\tObject = 36.51*C\\r\\n``, a °F line, a blank line. The
line format is a regular expression with named groups ``object`` (required) and ``ambient``
(optional). Lines that do not match (°F lines, blank lines, boot text) are ignored. A matching
line whose value is ``nan``/``inf``/``ovf`` (an Arduino's bad float) is a device fault: it
becomes a SENSOR_ERROR reading, never a temperature. Opening the port resets an Arduino Uno:
expect about 2 s of silence or boot text.
"""

from __future__ import annotations

import math
import re

from drivers.framing import Frame, LineSplitter
from drivers.spec import DriverOption, Listener, ProtocolSpec, SimDevice, SimFault
from drivers.thermometer import StreamThermometer

PROTOCOL = "text-lines"
BAUD_RATES = (9600, 115200)

#: Matches ``Ambient = 25.33*C<TAB>Object = 36.51*C``; the value groups take any token so that
#: a ``nan`` line is recognised (and rejected as a fault) rather than silently skipped.
DEFAULT_PATTERN = (
    r"Ambient\s*=\s*(?P<ambient>[^\s*]+)\s*\*C\s+Object\s*=\s*(?P<object>[^\s*]+)\s*\*C"
)
#: What Arduino's Print::print(float) writes for values it cannot print.
BAD_FLOAT_TOKENS = frozenset({"nan", "inf", "-inf", "+inf", "ovf", "-ovf"})


def _c_to_f(value_c: float) -> float:
    return value_c * 9 / 5 + 32


def _arduino_float(value: float) -> str:
    """Format like Arduino's ``Serial.print(x)`` with 2 decimals (nan, inf, ovf included)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    if abs(value) > 4294967040.0:
        return "ovf"
    return f"{value:.2f}"


def encode_block(object_c: float, ambient_c: float) -> bytes:
    """The three lines the common Arduino sketch prints per reading (°C, °F, blank)."""
    return (
        f"Ambient = {_arduino_float(ambient_c)}*C\tObject = {_arduino_float(object_c)}*C\r\n"
        f"Ambient = {_arduino_float(_c_to_f(ambient_c))}*F\t"
        f"Object = {_arduino_float(_c_to_f(object_c))}*F\r\n"
        "\r\n"
    ).encode("ascii")


def _value(token: str | None) -> float | None | str:
    """float for a number, None for an absent group, the token itself for a bad float."""
    if token is None:
        return None
    if token.lower() in BAD_FLOAT_TOKENS:
        return token
    try:
        value = float(token)
    except ValueError:
        return token
    return value if math.isfinite(value) else token


def parse_line(line: bytes | str, pattern: re.Pattern[str] | str = DEFAULT_PATTERN) -> Frame | None:
    """Decode one line (without the newline). None = not a reading line: ignore it."""
    text = line.decode("ascii", errors="replace") if isinstance(line, bytes) else line
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    match = regex.search(text)
    if match is None:
        return None
    groups = match.groupdict()
    object_v = _value(groups.get("object"))
    ambient_v = _value(groups.get("ambient"))
    if object_v is None:
        raise ValueError("the line pattern needs a named group 'object'")
    bad = [v for v in (object_v, ambient_v) if isinstance(v, str)]
    if bad:
        lowered = {token.lower() for token in bad}
        if lowered <= BAD_FLOAT_TOKENS:
            return Frame(None, None, fault=f"device printed {', '.join(bad)}")
        return None  # a mangled number: noise, not the device's own verdict
    assert isinstance(object_v, float) and not isinstance(ambient_v, str)
    return Frame(object_v, ambient_v)


class TextLineParser:
    """Streaming decoder: bytes -> lines -> frames (non-matching lines are skipped)."""

    def __init__(self, pattern: str = DEFAULT_PATTERN, *, max_line: int = 256) -> None:
        self._regex = re.compile(pattern)
        if "object" not in self._regex.groupindex:
            raise ValueError("the line pattern needs a named group 'object'")
        self._lines = LineSplitter(max_line=max_line)

    def reset(self) -> None:
        self._lines.reset()

    def feed(self, data: bytes) -> list[Frame]:
        frames = (parse_line(line, self._regex) for line in self._lines.feed(data))
        return [frame for frame in frames if frame is not None]


class TextLinesThermometer(StreamThermometer):
    """Listens to a device that prints one line per reading (it cannot be queried)."""

    protocol = PROTOCOL
    default_baud = BAUD_RATES[0]

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        pattern: str = DEFAULT_PATTERN,
        offset_c: float = 0.0,
        exclusive: bool = True,
    ) -> None:
        self._pattern = pattern
        super().__init__(port, baud, offset_c=offset_c, exclusive=exclusive)

    def _make_parser(self) -> TextLineParser:
        return TextLineParser(self._pattern)


DEFAULT_BOOT_TEXT = b"Adafruit MLX90614 test\r\n"


class SimulatedTextLines(SimDevice):
    """An Arduino sketch as the simulator plays it: prints its boot text, then a block of
    lines every 0.25 s (``nan`` on a sensor error)."""

    default_interval_s = 0.25

    def __init__(self, boot_text: bytes = DEFAULT_BOOT_TEXT) -> None:
        super().__init__()
        self.streaming = True  # an Arduino sketch prints in loop()
        self.boot_text = boot_text

    def on_plug(self) -> bytes:
        return self.boot_text

    def frame(self, fault: SimFault | None) -> bytes:
        if fault is SimFault.SENSOR_ERROR:
            return encode_block(math.nan, math.nan)
        block = encode_block(self.object_c, self.ambient_c)
        if fault is SimFault.BAD_CHECKSUM:  # no checksum in text: a mangled digit instead
            block = block.replace(b".", b"x", 2)
        return block


SPEC = ProtocolSpec(
    name=PROTOCOL,
    driver=TextLinesThermometer,
    simulate=SimulatedTextLines,
    listen=(Listener({}, TextLineParser),),
    options=(DriverOption("pattern", "regex with named groups object, ambient."),),
)
