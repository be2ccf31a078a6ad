"""Pure framing: the verified frames of THERMOMETERS.md as fixed vectors, and the resync rule."""

from __future__ import annotations

import minimalmodbus
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import aa55, gy_mcu90614, modbus_rtu, text_lines
from drivers.framing import FixedFrameParser, Frame, LineSplitter, sum8

GY_37_26 = bytes.fromhex("5A 5A 45 04 0E 74 0A 28 B1")
GY_3685_2410 = bytes.fromhex("5A 5A 45 04 0E 65 09 6A E3")


# -- GY-MCU90614 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (gy_mcu90614.Command.QUERY, "A5 15 BA"),
        (gy_mcu90614.Command.CONTINUOUS, "A5 45 EA"),
        (gy_mcu90614.Command.BAUD_9600, "A5 AE 53"),
        (gy_mcu90614.Command.BAUD_115200, "A5 AF 54"),
        (gy_mcu90614.Command.AUTO_OUTPUT_ON, "A5 51 F6"),
        (gy_mcu90614.Command.AUTO_OUTPUT_OFF, "A5 52 F7"),
    ],
)
def test_gy_commands_match_the_documented_bytes(command: int, wire: str) -> None:
    assert gy_mcu90614.encode_command(command) == bytes.fromhex(wire)
    assert gy_mcu90614.parse_command(bytes.fromhex(wire)) == command


@pytest.mark.parametrize(
    ("frame", "object_c", "ambient_c"), [(GY_37_26, 37.0, 26.0), (GY_3685_2410, 36.85, 24.1)]
)
def test_gy_frames_match_the_documented_bytes(
    frame: bytes, object_c: float, ambient_c: float
) -> None:
    assert gy_mcu90614.encode_frame(object_c, ambient_c) == frame
    assert gy_mcu90614.parse_frame(frame) == Frame(object_c, ambient_c)


def test_gy_negative_temperature_is_signed() -> None:
    frame = gy_mcu90614.encode_frame(-5.25, -10.0)
    assert gy_mcu90614.parse_frame(frame) == Frame(-5.25, -10.0)


@pytest.mark.parametrize(
    "bad",
    [
        GY_37_26[:-1] + b"\xb2",  # checksum
        GY_37_26[:2] + b"\x46" + GY_37_26[3:],  # frame type
        GY_37_26[:3] + b"\x05" + GY_37_26[4:],  # payload length
        GY_37_26[:8],  # short
    ],
    ids=["bad-sum", "wrong-type", "wrong-length", "short"],
)
def test_gy_corrupt_frames_are_rejected(bad: bytes) -> None:
    assert gy_mcu90614.parse_frame(bad) is None
    assert gy_mcu90614.frame_parser().feed(bad) == []


def test_gy_parser_survives_garbage_split_frames_and_mid_frame_start() -> None:
    bad_sum = GY_37_26[:-1] + b"\x00"
    stream = (
        GY_37_26[4:]  # the stream starts mid-frame
        + b"\x00\x5a\xff"  # garbage with a lone header byte
        + GY_3685_2410
        + b"\x5a\x5a\x5a"  # false headers right before a real frame
        + GY_37_26
        + bad_sum
        + GY_3685_2410
    )
    parser = gy_mcu90614.frame_parser()
    frames = [f for byte in stream for f in parser.feed(bytes([byte]))]  # one byte per chunk
    assert frames == [Frame(36.85, 24.1), Frame(37.0, 26.0), Frame(36.85, 24.1)]
    assert parser.dropped > 0


@pytest.mark.parametrize("cut", [2, 3, 4, 5, 6])
def test_gy_frame_behind_a_truncated_one_is_found(cut: int) -> None:
    """A truncated frame hides the next header. At cut=5 the 8-bit sum of the false candidate
    even matches; the MLX90614 ambient range (-40..125 °C) rejects it."""
    truncated = GY_37_26[:cut]
    assert gy_mcu90614.frame_parser().feed(truncated + GY_3685_2410) == [Frame(36.85, 24.1)]


def test_gy_values_outside_the_sensor_range_are_rejected() -> None:
    body = bytes.fromhex("5A 5A 45 04 0E 74 5A 28")  # ambient 230.8 °C
    assert gy_mcu90614.parse_frame(body + bytes((sum8(body),))) is None


def _feed_in_chunks(data: bytes, cuts: list[int]) -> list[Frame]:
    parser = gy_mcu90614.frame_parser()
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    return [f for a, b in zip(bounds, bounds[1:], strict=False) for f in parser.feed(data[a:b])]


CUTS = st.lists(st.integers(0, 250), max_size=12)


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=200), cuts=CUTS)
def test_gy_parser_never_invents_a_frame(noise: bytes, cuts: list[int]) -> None:
    """Whatever bytes arrive, however chunked, every frame returned is a valid 9-byte frame
    present in the input."""
    data = noise + GY_37_26 + noise
    for frame in _feed_in_chunks(data, cuts):
        assert frame.object_c is not None and frame.ambient_c is not None
        assert gy_mcu90614.encode_frame(frame.object_c, frame.ambient_c) in data


@settings(max_examples=200, deadline=None)
@given(noise=st.binary(max_size=120).filter(lambda b: 0x5A not in b), cuts=CUTS)
def test_gy_parser_finds_the_frame_in_headerless_noise(noise: bytes, cuts: list[int]) -> None:
    assert _feed_in_chunks(noise + GY_37_26 + noise, cuts) == [Frame(37.0, 26.0)]


def test_fixed_frame_parser_keeps_a_header_split_across_chunks() -> None:
    parser = FixedFrameParser(b"\xaa\x55\x06", 6, aa55.parse_frame)
    assert parser.feed(b"\x00\x01\xaa") == []
    assert parser.feed(b"\x55\x06\x24\x07\x30") == [Frame(36.7)]


# -- Modbus RTU --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "crc"), [("01 04 00 00 00 02", "71 CB"), ("01 03 00 00 00 08", "44 0C")]
)
def test_crc16_check_vectors(body: str, crc: str) -> None:
    data = bytes.fromhex(body)
    assert modbus_rtu.crc16(data) == bytes.fromhex(crc)
    assert modbus_rtu.crc16(data) == minimalmodbus._calculate_crc(data)


def test_mq485a_request_and_response_vectors() -> None:
    model = modbus_rtu.MODELS["mq485a"]
    request = modbus_rtu.encode_read_request(1, model.register, model.count)
    assert request == bytes.fromhex("01 03 00 00 00 08 44 0C")
    assert modbus_rtu.parse_read_request(request) == (1, 0, 8)
    registers = [0x0A13, 0x0BFB] + [0] * 6
    response = bytes.fromhex("01 03 10 0A 13 0B FB" + " 00" * 12 + " 61 42")
    assert modbus_rtu.encode_read_response(1, registers) == response
    assert modbus_rtu.decode_registers(registers, model) == Frame(25.79, 30.67)


def test_calex_request_and_response_vectors() -> None:
    model = modbus_rtu.MODELS["calex"]
    assert modbus_rtu.encode_read_request(1, 0x12, 1) == bytes.fromhex("01 03 00 12 00 01 24 0F")
    assert modbus_rtu.to_register(36.8, model) == 0x0170
    assert modbus_rtu.encode_read_response(1, [0x0170]) == bytes.fromhex("01 03 02 01 70 B8 30")
    assert modbus_rtu.decode_registers([0x0170], model) == Frame(36.8)


def test_modbus_status_bit0_is_a_fault_and_signed_values_decode() -> None:
    model = modbus_rtu.MODELS["calex"]
    frame = modbus_rtu.decode_registers([0x0170], model, status=0b1001)
    assert frame is not None and frame.fault is not None and frame.object_c == 36.8
    assert modbus_rtu.decode_registers([0xFFF6], model) == Frame(-1.0)
    assert modbus_rtu.decode_registers([1, 2], model) is None  # wrong count


def test_modbus_request_with_bad_crc_is_not_parsed() -> None:
    assert modbus_rtu.parse_read_request(bytes.fromhex("01 03 00 00 00 08 44 0D")) is None


# -- Text lines --------------------------------------------------------------------------------


def test_text_default_line() -> None:
    assert text_lines.parse_line(b"Ambient = 25.33*C\tObject = 36.51*C") == Frame(36.51, 25.33)


@pytest.mark.parametrize(
    "line",
    [b"Ambient = 77.59*F\tObject = 97.72*F", b"", b"Adafruit MLX90614 test", b"\xff\xfe junk"],
    ids=["fahrenheit", "blank", "boot-text", "binary"],
)
def test_text_lines_that_are_not_readings_are_ignored(line: bytes) -> None:
    assert text_lines.parse_line(line) is None


@pytest.mark.parametrize("token", ["nan", "inf", "ovf"])
def test_text_bad_floats_are_device_faults_not_values(token: str) -> None:
    frame = text_lines.parse_line(f"Ambient = 25.00*C\tObject = {token}*C")
    assert frame is not None and frame.fault is not None
    assert frame.object_c is None and frame.ambient_c is None


def test_text_mangled_number_is_ignored() -> None:
    assert text_lines.parse_line("Ambient = 25.33*C\tObject = 3x.51*C") is None


def test_text_custom_pattern() -> None:
    parser = text_lines.TextLineParser(r"T=(?P<object>[-\d.]+)")
    assert parser.feed(b"T=36.9\r\nT=") == [Frame(36.9)]
    assert parser.feed(b"37.1\n") == [Frame(37.1)]
    with pytest.raises(ValueError):
        text_lines.TextLineParser(r"T=(?P<temp>\d+)")


def test_text_parser_over_a_whole_arduino_block_split_anyhow() -> None:
    block = b"Adafruit MLX90614 test\r\n" + text_lines.encode_block(36.51, 25.33)
    parser = text_lines.TextLineParser()
    frames = [f for i in range(0, len(block), 5) for f in parser.feed(block[i : i + 5])]
    assert frames == [Frame(36.51, 25.33)]
    assert text_lines.encode_block(36.51, 25.33).startswith(
        b"Ambient = 25.33*C\tObject = 36.51*C\r\n"
    )


def test_line_splitter_drops_endless_garbage() -> None:
    splitter = LineSplitter(max_line=16)
    assert splitter.feed(b"x" * 40) == []
    assert splitter.feed(b"ok\r\n") == [b"ok"]


# -- AA 55 06 ----------------------------------------------------------------------------------


def test_aa55_vectors() -> None:
    assert aa55.encode_frame(36.7, "binary") == bytes.fromhex("AA 55 06 24 07 30")
    assert aa55.encode_frame(37.0, "bcd") == bytes.fromhex("AA 55 06 03 70 78")
    assert aa55.parse_frame(bytes.fromhex("AA 55 06 24 07 30"), "binary") == Frame(36.7)
    assert aa55.parse_frame(bytes.fromhex("AA 55 06 03 70 78"), "bcd") == Frame(37.0)


@pytest.mark.parametrize(
    ("frame", "encoding"),
    [
        ("AA 55 06 03 70 78", "binary"),  # tenth byte 0x70 > 9
        ("AA 55 06 0A 70 ??", "bcd"),  # nibble A > 9
        ("AA 55 06 24 07 31", "binary"),  # bad sum
    ],
)
def test_aa55_invalid_frames_are_rejected(frame: str, encoding: aa55.Encoding) -> None:
    data = bytes.fromhex(frame.replace("??", "00"))
    if "??" in frame:
        data = data[:5] + bytes((sum8(data[:5]),))
    assert aa55.parse_frame(data, encoding) is None
