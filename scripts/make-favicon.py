#!/usr/bin/env python3
"""Writes assets/favicon.ico: 16x16 and 32x32 32-bit images of the game's colours (a blue disc with
an amber dot, as assets/favicon.svg draws it). Run from the repository root; the output is committed."""
import math
import struct


def image(size):
    rows = []
    centre, radius = (size - 1) / 2, size * 0.44
    for y in range(size):
        row = b""
        for x in range(size):
            d = math.hypot(x - centre, y - centre)
            if d <= radius * 0.38:
                pixel = (0x40, 0xB8, 0xFF, 255)  # amber, as BGRA
            elif d <= radius:
                pixel = (0xFF, 0xC4, 0x7C, 255)  # the accent blue
            elif d <= radius + 1:
                pixel = (0xFF, 0xC4, 0x7C, 110)  # a soft edge
            else:
                pixel = (0, 0, 0, 0)
            row += bytes(pixel)
        rows.append(row)
    pixels = b"".join(reversed(rows))  # BMP rows run bottom-up
    mask = b"\0" * (((size + 31) // 32) * 4 * size)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    return header + pixels + mask


sizes = [16, 32]
images = [image(s) for s in sizes]
out = struct.pack("<HHH", 0, 1, len(images))
offset = 6 + 16 * len(images)
for size, data in zip(sizes, images):
    out += struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(data), offset)
    offset += len(data)
out += b"".join(images)
with open("assets/favicon.ico", "wb") as f:
    f.write(out)
