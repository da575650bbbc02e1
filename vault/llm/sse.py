"""A server-sent-events parser fed with bytes as they arrive: yields each event the moment its
blank line is in, whatever the chunk boundaries (split lines, CRLF halves, several events).
Linear in the bytes it is fed, and it keeps at most `limit` bytes of one event or line."""

MAX_EVENT = 16 * 1024 * 1024


class TooLarge(ValueError):
    """One event's data, or one line still without its end, grew past the limit."""


def events(chunks, limit=MAX_EVENT, too_large=TooLarge):
    """(event name, data bytes) for each complete event; an unfinished last event is dropped.
    Past `limit`, raises too_large() (a class, or a function making the exception)."""
    tail, name, data, size = b"", "", None, 0
    for chunk in chunks:
        if tail:
            # Only the new bytes are searched: an endless line costs its length once, not squared.
            if b"\n" not in chunk and b"\r" not in chunk:
                tail = tail if type(tail) is bytearray else bytearray(tail)
                tail += chunk
                if size + len(tail) > limit:
                    raise too_large()
                continue
            chunk, tail = bytes(tail) + chunk, b""
        lines = chunk.splitlines(keepends=True)
        # A last line without its end, or ending in a \r whose \n may be in the next chunk, waits.
        if lines and lines[-1][-1:] != b"\n":
            tail = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data is not None:
                    yield name or "message", data if type(data) is bytes else bytes(data)
                name, data, size = "", None, 0
            elif line[:1] != b":":  # a leading colon is a comment (keep-alive)
                field, _, value = line.partition(b":")
                value = value[1:] if value[:1] == b" " else value
                if field == b"data":
                    size += len(value) + 1
                    if size > limit:
                        raise too_large()
                    if data is None:  # the usual event: one data line, kept as it is
                        data = value
                    else:  # more lines are joined in place, never re-copied
                        data = data if type(data) is bytearray else bytearray(data)
                        data += b"\n" + value
                elif field == b"event":
                    name = value.decode("utf-8", "replace")
