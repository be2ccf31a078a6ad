"""Modbus RTU (function 03, read holding registers) IR sensors and pyrometers over RS485.

The I/O, CRC checking and reply validation are minimalmodbus's (a well-kept library); this
module adds the model table (register, count, scale, signedness, status register) and the pure
encoders the simulator and tests use. CRC-16/MODBUS: init 0xFFFF, reflected poly 0xA001, low
byte first on the wire.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

import minimalmodbus

from drivers.framing import FixedFrameParser, Frame
from drivers.spec import DriverOption, ProtocolSpec, SimDevice, SimFault
from drivers.thermometer import PORT_ERRORS, DeviceGone, SerialThermometer
from kiosk.core.screening import Reading

PROTOCOL = "modbus-rtu"
BAUD_RATES = (9600, 19200)
READ_HOLDING_REGISTERS = 3
EXCEPTION_FLAG = 0x80
#: Status register bit 0 of the Calex-style pyrometer: measurement error.
STATUS_MEASUREMENT_ERROR = 0x01


@dataclass(frozen=True, slots=True)
class ModbusModel:
    """Where a model keeps its temperatures.

    ``register``/``count``: the block read with function 03. ``object_index`` and
    ``ambient_index`` are positions inside that block. ``scale`` is °C per count (0.01 or 0.1).
    ``status_register``: read after the block; bit 0 set means measurement error.
    ``reply_delay_s`` is how long the real device takes to answer (used by the simulator).
    """

    name: str
    register: int
    count: int
    scale: float
    signed: bool = True
    object_index: int = 0
    ambient_index: int | None = None
    status_register: int | None = None
    baud: int = 9600
    reply_delay_s: float = 0.0


MODELS: dict[str, ModbusModel] = {
    # MQ485A-style sensor: 8 registers from 0, object in 0, ambient in 1, 0.01 °C.
    "mq485a": ModbusModel("mq485a", register=0, count=8, scale=0.01, ambient_index=1),
    # Calex PyroUSB-style pyrometer: filtered temperature 0x12 in 0.1 °C, status 0x15.
    "calex": ModbusModel(
        "calex", register=0x12, count=1, scale=0.1, status_register=0x15, reply_delay_s=0.02
    ),
}


def crc16(data: bytes) -> bytes:
    """CRC-16/MODBUS of ``data``, low byte first (``01 03 00 00 00 08`` -> ``44 0C``)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def _with_crc(body: bytes) -> bytes:
    return body + crc16(body)


def encode_read_request(slave: int, register: int, count: int) -> bytes:
    """Function 03 request, e.g. slave 1, register 0, 8 registers -> ``01 03 00 00 00 08 44 0C``."""
    return _with_crc(struct.pack(">BBHH", slave, READ_HOLDING_REGISTERS, register, count))


def parse_read_request(frame: bytes) -> tuple[int, int, int] | None:
    """(slave, register, count) of an 8-byte function 03 request; None if CRC or code is wrong."""
    if len(frame) != 8 or crc16(frame[:6]) != frame[6:]:
        return None
    slave, function, register, count = struct.unpack(">BBHH", frame[:6])
    if function != READ_HOLDING_REGISTERS:
        return None
    return slave, register, count


def encode_read_response(slave: int, registers: Sequence[int]) -> bytes:
    """Function 03 reply carrying 16-bit register values (0..0xFFFF)."""
    data = b"".join(struct.pack(">H", value & 0xFFFF) for value in registers)
    return _with_crc(bytes((slave, READ_HOLDING_REGISTERS, len(data))) + data)


def encode_exception(slave: int, function: int, code: int) -> bytes:
    """Exception reply: function | 0x80 and an exception code (2 = illegal data address)."""
    return _with_crc(bytes((slave, function | EXCEPTION_FLAG, code)))


def to_register(value_c: float, model: ModbusModel) -> int:
    """°C -> raw 16-bit register value for ``model`` (two's complement when signed)."""
    counts = round(value_c / model.scale)
    low, high = (-0x8000, 0x7FFF) if model.signed else (0, 0xFFFF)
    if not low <= counts <= high:
        raise ValueError(f"{value_c} °C does not fit model {model.name}")
    return counts & 0xFFFF


def _to_celsius(raw: int, model: ModbusModel) -> float:
    if model.signed and raw >= 0x8000:
        raw -= 0x10000
    return round(raw * model.scale, 2)


def decode_registers(
    registers: Sequence[int], model: ModbusModel, status: int | None = None
) -> Frame | None:
    """Turn the register block (and optional status word) into a frame; None if too short."""
    if len(registers) != model.count:
        return None
    object_c = _to_celsius(registers[model.object_index], model)
    ambient_c = (
        None if model.ambient_index is None else _to_celsius(registers[model.ambient_index], model)
    )
    fault = None
    if status is not None and status & STATUS_MEASUREMENT_ERROR:
        fault = f"status 0x{status:04X}: measurement error"
    return Frame(object_c, ambient_c, fault)


class ModbusThermometer(SerialThermometer):
    """Query-mode driver for one Modbus RTU sensor; the port is shared with minimalmodbus.

    Replies: valid -> reading; status bit 0 or exception reply -> SENSOR_ERROR; no reply within
    ``reply_timeout_s`` s -> NO_TARGET; CRC error / wrong slave / malformed -> dropped (None).
    """

    protocol = PROTOCOL
    default_baud = 9600

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        model: str | ModbusModel = "mq485a",
        slave: int = 1,
        offset_c: float = 0.0,
        exclusive: bool = True,
        reply_timeout_s: float = 0.3,
        query_interval_s: float = 0.1,
    ) -> None:
        self._model = MODELS[model] if isinstance(model, str) else model
        self._slave = slave
        self._query_interval_s = query_interval_s
        self._last_query = -1e9
        self._instrument: minimalmodbus.Instrument | None = None
        super().__init__(
            port,
            baud or self._model.baud,
            offset_c=offset_c,
            exclusive=exclusive,
            read_timeout_s=reply_timeout_s,
        )

    def _detail(self) -> str:
        return f"slave {self._slave}, model {self._model.name}"

    def _after_open(self) -> None:
        self._instrument = minimalmodbus.Instrument(self._port_or_gone(), self._slave)

    def close(self) -> None:
        self._instrument = None
        super().close()

    def _read_block(self, instrument: minimalmodbus.Instrument) -> tuple[list[int], int | None]:
        model = self._model
        registers = instrument.read_registers(
            model.register, model.count, functioncode=READ_HOLDING_REGISTERS
        )
        status = None
        if model.status_register is not None:
            status = instrument.read_register(
                model.status_register, functioncode=READ_HOLDING_REGISTERS
            )
        return list(registers), None if status is None else int(status)

    def next_reading(self, timeout_s: float) -> Reading | None:
        """One request/reply; ``timeout_s`` is unused: the reply timeout bounds the wait."""
        del timeout_s
        instrument = self._instrument
        if instrument is None:
            raise DeviceGone(f"{self._port}: port is not open")
        delay = self._last_query + self._query_interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._last_query = time.monotonic()
        try:
            registers, status = self._read_block(instrument)
        except minimalmodbus.NoResponseError:
            return None if self._cancelled else self._no_target()
        except minimalmodbus.SlaveReportedException as exc:
            # The device answered (function | 0x80): a device-reported fault.
            now = time.monotonic()
            self._stats.saw_bytes(5, now)
            self._stats.saw_frame(now)
            return self._reading(Frame(None, None, f"exception reply: {exc}"), now)
        except minimalmodbus.ModbusException:
            # CRC error, wrong slave, wrong length: bytes arrived, none trusted.
            self._stats.saw_bytes(1, time.monotonic())
            return None
        except PORT_ERRORS as exc:
            raise DeviceGone(f"{self._port}: {exc}") from exc
        now = time.monotonic()
        self._stats.saw_bytes(5 + 2 * len(registers), now)
        frame = decode_registers(registers, self._model, status)
        if frame is None:
            return None
        self._stats.saw_frame(now)
        return self._reading(frame, now)


class SimulatedModbus(SimDevice):
    """One sensor on the bus as the simulator plays it: answers function 03 requests
    addressed to ``slave`` from the register table of ``model``."""

    def __init__(self, model: str = "mq485a", slave: int = 1) -> None:
        super().__init__()
        self.model = MODELS[model]
        self.slave = slave
        self.baud = self.model.baud
        # Only requests addressed to us are answered (RS485 bus rule).
        self._requests = FixedFrameParser(
            bytes((slave, READ_HOLDING_REGISTERS)), 8, parse_read_request
        )

    def _registers(self, fault: SimFault | None) -> dict[int, int]:
        model = self.model
        block = [0] * model.count
        block[model.object_index] = to_register(self.object_c, model)
        if model.ambient_index is not None:
            block[model.ambient_index] = to_register(self.ambient_c, model)
        table = {model.register + i: value for i, value in enumerate(block)}
        if model.status_register is not None:
            error = fault is SimFault.SENSOR_ERROR
            table[model.status_register] = STATUS_MEASUREMENT_ERROR if error else 0
        return table

    def on_input(self, data: bytes, fault: SimFault | None) -> list[tuple[float, bytes]]:
        replies = []
        for _slave, register, count in self._requests.feed(data):
            replies.append((self.model.reply_delay_s, self._reply(register, count, fault)))
        return replies

    def _reply(self, register: int, count: int, fault: SimFault | None) -> bytes:
        function = READ_HOLDING_REGISTERS
        table = self._registers(fault)
        wanted = range(register, register + count)
        if fault is SimFault.EXCEPTION:
            return encode_exception(self.slave, function, 4)  # slave device failure
        if any(address not in table for address in wanted):
            return encode_exception(self.slave, function, 2)  # illegal data address
        slave = (self.slave % 247) + 1 if fault is SimFault.WRONG_SLAVE else self.slave
        reply = encode_read_response(slave, [table[a] for a in wanted])
        if fault is SimFault.BAD_CHECKSUM:
            reply = reply[:-1] + bytes((reply[-1] ^ 0xFF,))
        return reply

    def frame(self, fault: SimFault | None) -> bytes:
        model = self.model
        return self._reply(model.register, model.count, fault)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    driver=ModbusThermometer,
    simulate=SimulatedModbus,
    ask=tuple({"model": m, "slave": 1} for m in MODELS),
    ask_bauds=BAUD_RATES,
    options=(DriverOption("model", "register layout of the sensor.", choices=tuple(MODELS)),
             DriverOption("slave", "Modbus address of the sensor.", type=int)),
)
