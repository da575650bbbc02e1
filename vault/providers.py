"""The provider registry: pure data, one frozen entry per provider."""
from dataclasses import dataclass

AUTH_TYPES = ("bearer", "x-api-key", "api-key", "none")
WIRES = ("openai", "anthropic")


@dataclass(frozen=True)
class Provider:
    id: str
    label: str
    base_url: str            # what the provider's own SDK takes; "" where the user must give one
    auth_type: str           # bearer | x-api-key | api-key | none
    wire: str                # openai | anthropic: which adapter speaks to it
    key_prefix: str = ""     # for a gentle format hint; never enforced
    popular_models: tuple = ()
    keys_url: str = ""       # where to create a key
    # OpenAI's reasoning models refuse max_tokens; every OpenAI chat model takes this name
    output_limit: str = "max_tokens"


PROVIDERS = {p.id: p for p in (
    Provider("openai", "OpenAI", "https://api.openai.com/v1", "bearer", "openai", "sk-",
             ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o3-mini"),
             "https://platform.openai.com/api-keys", output_limit="max_completion_tokens"),
    Provider("anthropic", "Anthropic", "https://api.anthropic.com", "x-api-key", "anthropic", "sk-ant-",
             ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"),
             "https://console.anthropic.com/settings/keys"),
    Provider("huggingface", "Hugging Face", "https://router.huggingface.co/v1", "bearer", "openai", "hf_",
             ("meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-R1"),
             "https://huggingface.co/settings/tokens"),
    Provider("google", "Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "bearer",
             "openai", "AIza", ("gemini-2.5-flash", "gemini-2.5-pro"), "https://aistudio.google.com/apikey"),
    Provider("mistral", "Mistral", "https://api.mistral.ai/v1", "bearer", "openai", "",
             ("mistral-large-latest", "mistral-small-latest", "codestral-latest"),
             "https://console.mistral.ai/api-keys"),
    Provider("groq", "Groq", "https://api.groq.com/openai/v1", "bearer", "openai", "gsk_",
             ("llama-3.3-70b-versatile", "llama-3.1-8b-instant"), "https://console.groq.com/keys"),
    Provider("together", "Together AI", "https://api.together.xyz/v1", "bearer", "openai", "",
             ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "Qwen/Qwen2.5-72B-Instruct-Turbo"),
             "https://api.together.ai/settings/api-keys"),
    Provider("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "bearer", "openai", "sk-or-",
             ("openai/gpt-4o", "anthropic/claude-sonnet-4.5", "meta-llama/llama-3.3-70b-instruct"),
             "https://openrouter.ai/settings/keys"),
    Provider("deepseek", "DeepSeek", "https://api.deepseek.com/v1", "bearer", "openai", "sk-",
             ("deepseek-chat", "deepseek-reasoner"), "https://platform.deepseek.com/api_keys"),
    Provider("xai", "xAI", "https://api.x.ai/v1", "bearer", "openai", "xai-",
             ("grok-4", "grok-3-mini"), "https://console.x.ai"),
    Provider("azure", "Azure OpenAI", "https://{resource}.openai.azure.com/openai/v1", "api-key", "openai", "",
             ("gpt-4o", "gpt-4o-mini"), output_limit="max_completion_tokens"),
    Provider("ollama", "Ollama (local)", "http://localhost:11434/v1", "none", "openai", "",
             ("llama3.2", "qwen2.5", "mistral")),
    Provider("custom", "Custom (OpenAI-compatible)", "", "bearer", "openai", ""),
)}


def get(provider_id):
    """The registry entry, or None for an unknown id."""
    return PROVIDERS.get(provider_id) if isinstance(provider_id, str) else None

