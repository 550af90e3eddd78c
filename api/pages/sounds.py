"""The desk's sounds, made here rather than copied from elsewhere: short 16-bit mono WAV tones."""

from __future__ import annotations

import functools
import io
import math
import struct
import wave

RATE = 16_000


def _tones(parts: list[tuple[float, float]], volume: float = 0.5) -> bytes:
    """``parts`` = (frequency in Hz, seconds); 0 Hz is silence. 5 ms fades avoid clicks."""
    samples: list[int] = []
    fade = int(RATE * 0.005)
    for frequency, seconds in parts:
        count = int(RATE * seconds)
        for i in range(count):
            envelope = min(1.0, i / fade, (count - i) / fade)
            value = math.sin(2 * math.pi * frequency * i / RATE) if frequency else 0.0
            samples.append(int(32767 * volume * envelope * value))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


@functools.cache
def admit() -> bytes:
    """Two rising notes: pleasant, short."""
    return _tones([(880, 0.12), (0, 0.03), (1320, 0.18)])


@functools.cache
def deny() -> bytes:
    """Three low pulses: unmistakable in a noisy lobby."""
    return _tones([(330, 0.15), (0, 0.06), (330, 0.15), (0, 0.06), (262, 0.3)], volume=0.6)
