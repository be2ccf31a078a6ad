"""Serial IR thermometer drivers for the gate kiosk.

One module per wire protocol (pure ``encode_*``/``parse_*`` framing plus a thin driver class),
a reader thread that never blocks the UI, a probe, a click command group and a pty-based
simulator that speaks the same bytes as the hardware. Imports no Kivy: the UI re-posts the
reader's callbacks with ``Clock.schedule_once``.

Entry points: :func:`drivers.registry.make_thermometer`, :class:`drivers.reader.ThermometerReader`,
:func:`drivers.probe.probe`, :class:`drivers.simulator.SimulatedThermometer`,
:data:`drivers.cli.thermometer`.
"""
