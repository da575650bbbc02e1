"""The gateway's own chat, whatever the wire: the typed request every adapter takes, and the
answer or events every adapter gives back. Endpoints translate their wire to and from these;
nothing here knows HTTP, Flask or a provider."""
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked chat: `model` is a model's name or id as the client sent it; `messages` are
    OpenAI-shaped (the shape most providers speak, and the one translations start from);
    `options` holds only the checked options (temperature, max_tokens, tools…); `extra` the
    few OpenAI fields the vault passes on unchecked (reasoning_effort, logit_bias…: the endpoint
    says which), as they are to OpenAI-wire providers; the Anthropic adapter translates or refuses
    them by name. Never dropped."""
    model: str
    messages: list
    options: dict = field(default_factory=dict)
    stream: bool = False
    extra: dict = field(default_factory=dict)  # OpenAI fields passed on unchecked


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self):
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer's text, sent on the moment it arrives."""
    content: str
    type = "delta"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One whole tool call (`arguments` is JSON text), in a stream and in a whole answer alike:
    a stream sends it once the provider has finished it."""
    index: int
    id: str
    name: str
    arguments: str
    type = "tool_call"


@dataclass(frozen=True, slots=True)
class Done:
    """A stream's last event: why it stopped (OpenAI's finish reasons) and what it used."""
    finish_reason: str
    usage: Usage
    type = "done"


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer: the events of a stream, gathered."""
    content: str
    tool_calls: tuple = ()
    finish_reason: str = "stop"
    usage: Usage = Usage()
    model: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """Checked embeddings input: `input` is a string, a list of strings, a list of token ids or a
    list of such lists; `options` holds encoding_format, dimensions and user when given."""
    model: str
    input: object
    options: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Embeddings:
    """One vector per input, in the input's order: a list of numbers, or base64 text when asked."""
    vectors: tuple
    usage: Usage = Usage()
    model: str | None = None
