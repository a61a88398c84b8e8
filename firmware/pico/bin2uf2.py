#!/usr/bin/env python3
"""bin2uf2.py - turn the port's flash image (.bin, linked at 0x10000000) into a .uf2 for the RP2040's
BOOTSEL drive, without picotool.

    python3 firmware/pico/bin2uf2.py build/firmware/pico/sensorpipe_pico.bin build/firmware/pico/sensorpipe_pico.uf2

UF2 (https://github.com/microsoft/uf2): 512-byte blocks, each carrying 256 bytes of flash at its
address, flag 0x2000 (family id present) with the RP2040 family id 0xe48bff56, as the boot ROM wants.
CMakeLists.txt runs this after the link when the build has no picotool (PICO_NO_PICOTOOL=1).
"""
import struct
import sys

UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID = 0x00002000
RP2040_FAMILY_ID = 0xE48BFF56
FLASH_BASE = 0x10000000
PAYLOAD = 256


def convert(data: bytes, base: int = FLASH_BASE) -> bytes:
    if len(data) % PAYLOAD:
        data += b"\x00" * (PAYLOAD - len(data) % PAYLOAD)  # as uf2conv.py pads the last block
    n = len(data) // PAYLOAD
    out = bytearray()
    for i in range(n):
        chunk = data[i * PAYLOAD:(i + 1) * PAYLOAD]
        head = struct.pack("<8I", UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_FLAG_FAMILY_ID,
                           base + i * PAYLOAD, PAYLOAD, i, n, RP2040_FAMILY_ID)
        block = head + chunk + b"\x00" * (476 - PAYLOAD) + struct.pack("<I", UF2_MAGIC_END)
        assert len(block) == 512
        out += block
    return bytes(out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: bin2uf2.py IMAGE.bin OUT.uf2\n")
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    if not data:
        sys.stderr.write("bin2uf2: %s is empty\n" % argv[1])
        return 1
    uf2 = convert(data)
    with open(argv[2], "wb") as f:
        f.write(uf2)
    print("bin2uf2: %s: %d bytes of flash at 0x%08x, %d blocks" % (argv[2], len(data), FLASH_BASE,
                                                                   len(uf2) // 512))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
