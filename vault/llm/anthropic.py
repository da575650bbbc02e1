"""The anthropic wire (being written)."""


class AnthropicAdapter:
    wire = "anthropic"

    def __init__(self, timeout):
        self.timeout = timeout
