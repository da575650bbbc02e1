"""A server-sent-events parser fed with bytes as they arrive: yields each event the moment its
blank line is in, whatever the chunk boundaries (split lines, CRLF halves, several events)."""


def events(chunks):
    """(event name, data bytes) for each complete event; an unfinished last event is dropped."""
    pending, name, data = b"", "", []
    for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        pending = b""
        # A last line without its end, or ending in a \r whose \n may be in the next chunk, waits.
        if lines and (lines[-1][-1:] not in (b"\n", b"\r") or lines[-1][-1:] == b"\r"):
            pending = lines.pop()
        for line in lines:
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    yield name or "message", b"\n".join(data)
                name, data = "", []
            elif line[:1] != b":":  # a leading colon is a comment (keep-alive)
                field, _, value = line.partition(b":")
                value = value[1:] if value[:1] == b" " else value
                if field == b"data":
                    data.append(value)
                elif field == b"event":
                    name = value.decode("utf-8", "replace")
