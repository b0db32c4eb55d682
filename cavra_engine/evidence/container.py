"""The bundle container: a deterministic, uncompressed ZIP in which every byte is accounted for.

Each member is stored (method 0) with a fixed timestamp, no extra fields and no comments, in a fixed
order. Given the member names and contents the archive bytes are fully determined, so the reader
rebuilds every header and compares: a changed byte outside the members' contents is caught here and
a changed byte inside them by the manifest's SHA-256 and the signatures.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

DOS_TIME = 0
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
VERSION = 20
EXTERNAL_ATTR = (0o100644 << 16) & 0xFFFFFFFF
MAX_SIZE = 0xFFFFFFFF - 1


class ContainerError(ValueError):
    """The file is not a bundle container, or its structure was altered."""


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # of the content within the archive
    size: int
    crc: int


def _local_header(name: bytes, crc: int, size: int) -> bytes:
    return (
        struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, VERSION, 0, 0, DOS_TIME, DOS_DATE, crc, size, size, len(name), 0
        )
        + name
    )


def _central_header(name: bytes, crc: int, size: int, offset: int) -> bytes:
    return struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, VERSION, VERSION, 0, 0, DOS_TIME, DOS_DATE, crc, size, size,
        len(name), 0, 0, 0, 0, EXTERNAL_ATTR, offset,
    ) + name  # fmt: skip


def _end_record(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0)


def build(members: list[tuple[str, bytes]]) -> bytes:
    """Archive bytes for (name, content) pairs, in the given order."""
    parts: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, data in members:
        if len(data) > MAX_SIZE:
            raise ContainerError(f"{name} is larger than 4 GiB; export a narrower range")
        raw_name = name.encode("ascii")
        crc = zlib.crc32(data)
        header = _local_header(raw_name, crc, len(data))
        central.append(_central_header(raw_name, crc, len(data), offset))
        parts += [header, data]
        offset += len(header) + len(data)
    cd = b"".join(central)
    parts += [cd, _end_record(len(members), len(cd), offset)]
    return b"".join(parts)


def read(data: bytes | memoryview, expected_names: tuple[str, ...]) -> dict[str, Member]:
    """Locate the members of a container and check every structural byte against the canonical layout."""
    view = memoryview(data)
    if len(view) < 22 or bytes(view[-22:-18]) != b"PK\x05\x06":
        raise ContainerError("not a CAVRA evidence bundle: no ZIP end-of-central-directory record at the end")
    _sig, _d, _cd, _n1, count, cd_size, cd_offset, _c = struct.unpack("<IHHHHIIH", view[-22:])
    if count != len(expected_names):
        raise ContainerError(
            f"bundle holds {count} files; expected exactly {len(expected_names)}: {', '.join(expected_names)}"
        )
    if cd_offset + cd_size + 22 != len(view):
        raise ContainerError(
            "ZIP central directory size/offset do not match the file length (bytes added or removed)"
        )
    members: dict[str, Member] = {}
    pos = cd_offset
    for index, expected in enumerate(expected_names):
        if bytes(view[pos : pos + 4]) != b"PK\x01\x02" or pos + 46 > len(view):
            raise ContainerError(f"central directory entry {index + 1} is damaged")
        fields = struct.unpack("<IHHHHHHIIIHHHHHII", view[pos : pos + 46])
        crc, size, name_len, local_offset = fields[7], fields[8], fields[10], fields[16]
        name = bytes(view[pos + 46 : pos + 46 + name_len]).decode("ascii", "replace")
        if name != expected:
            raise ContainerError(f"file {index + 1} in the bundle is {name!r}; expected {expected!r}")
        want = _central_header(expected.encode("ascii"), crc, size, local_offset)
        got = bytes(view[pos : pos + len(want)])
        if got != want:
            raise ContainerError(
                f"central directory entry of {expected} altered at byte {pos + _first_diff(got, want)}"
            )
        pos += len(want)
        want_local = _local_header(expected.encode("ascii"), crc, size)
        got_local = bytes(view[local_offset : local_offset + len(want_local)])
        if got_local != want_local:
            raise ContainerError(
                f"local header of {expected} altered at byte {local_offset + _first_diff(got_local, want_local)}"
            )
        members[expected] = Member(expected, local_offset + len(want_local), size, crc)
    if pos != cd_offset + cd_size:
        raise ContainerError("ZIP central directory has unexpected extra bytes")
    want_end = _end_record(count, cd_size, cd_offset)
    if bytes(view[-22:]) != want_end:
        raise ContainerError(
            f"end-of-central-directory record altered at byte {len(view) - 22 + _first_diff(bytes(view[-22:]), want_end)}"
        )
    # Contents must tile the archive exactly: header, content, header, content, ..., central directory.
    cursor = 0
    for m in members.values():
        header_len = 30 + len(m.name)
        if m.offset - header_len != cursor:
            raise ContainerError(f"unexpected bytes before {m.name} (at byte {cursor})")
        cursor = m.offset + m.size
    if cursor != cd_offset:
        raise ContainerError(
            f"unexpected bytes between the last file and the central directory (at byte {cursor})"
        )
    return members


def content(data: bytes | memoryview, member: Member) -> memoryview:
    return memoryview(data)[member.offset : member.offset + member.size]


def _first_diff(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
