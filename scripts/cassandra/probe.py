"""Exits 0 when a CQL server on 127.0.0.1:PORT answers SELECT release_version FROM
system.local, and prints the version. Speaks just enough of the native protocol (v4):
STARTUP, then one QUERY. Standard library only, so the readiness check needs no driver."""

import socket
import struct
import sys


def frame(stream, opcode, body):
    return struct.pack(">BBhBi", 4, 0, stream, opcode, len(body)) + body


def read_frame(sock):
    header = b""
    while len(header) < 9:
        chunk = sock.recv(9 - len(header))
        if not chunk:
            raise ConnectionError("closed")
        header += chunk
    _, _, _, opcode, length = struct.unpack(">BBhBi", header)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return opcode, body


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9042
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(frame(1, 0x01, struct.pack(">H", 1) + string("CQL_VERSION") + string("3.0.0")))
        opcode, body = read_frame(sock)
        if opcode != 0x02:  # READY
            sys.exit(f"STARTUP answered opcode {opcode}: {body[:200]!r}")
        query = b"SELECT release_version FROM system.local"
        body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)
        sock.sendall(frame(2, 0x07, body))
        opcode, body = read_frame(sock)
        if opcode != 0x08 or struct.unpack(">i", body[:4])[0] != 2:  # RESULT, Rows
            sys.exit(f"the query answered opcode {opcode}: {body[:200]!r}")
        print(first_text_cell(body))


def first_text_cell(body):
    """The first cell of a Rows result whose one column is text."""
    pos = 4  # kind
    flags, columns = struct.unpack(">ii", body[pos : pos + 8])
    pos += 8
    if flags & 0x0002:  # has more pages: skip the paging state
        (n,) = struct.unpack(">i", body[pos : pos + 4])
        pos += 4 + max(n, 0)

    def skip_string():
        nonlocal pos
        (n,) = struct.unpack(">H", body[pos : pos + 2])
        pos += 2 + n

    if flags & 0x0001:  # global table spec
        skip_string()
        skip_string()
    for _ in range(columns):
        if not flags & 0x0001:
            skip_string()
            skip_string()
        skip_string()  # the column's name
        pos += 2  # its type: text has no parameters
    (rows,) = struct.unpack(">i", body[pos : pos + 4])
    pos += 4
    if rows < 1:
        return ""
    (n,) = struct.unpack(">i", body[pos : pos + 4])
    return body[pos + 4 : pos + 4 + n].decode()

if __name__ == "__main__":
    try:
        main()
    except (OSError, ConnectionError) as e:
        sys.exit(str(e))
