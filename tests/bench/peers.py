"""Other gateways for bench_gateway, installed outside the repository: the LiteLLM proxy (a venv
of its own) and the Portkey gateway (an npm folder), each pointed at the fake provider. A peer
that is not installed gives its install commands instead of a process."""
import os
import subprocess
from pathlib import Path

PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", "/tmp/peers"))
LITELLM = PEERS_DIR / "litellm-venv" / "bin" / "litellm"
PORTKEY = PEERS_DIR / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
MASTER_KEY = "sk-bench-litellm-master"  # it refuses to start without one; no database: checked in memory
MODELS = ("echo", "drip")  # the fake provider's scenarios the bench asks for
# @hono/node-server after 1.14.1 breaks the gateway's streaming (Portkey-AI/gateway issue #1389)
PORTKEY_PACKAGE = ('{"private": true, "dependencies": {"@portkey-ai/gateway": "*"}, '
                   '"overrides": {"@hono/node-server": "1.14.1"}}')


class Peer:
    """How to install, start and call one gateway."""
    name = path = install = ""
    executable = None

    def installed(self):
        return self.executable.exists()

    def command(self, tmp, upstream, port):
        raise NotImplementedError

    def headers(self, upstream, key):
        return {"Authorization": f"Bearer {key}"}

    def start(self, tmp, upstream, port):
        """The running process (its output goes to tmp/<name>.log)."""
        log = open(Path(tmp) / f"{self.name.split()[0].lower()}.log", "wb")
        return subprocess.Popen(self.command(tmp, upstream, port), cwd=tmp, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **self.env()})

    def env(self):
        return {}


class LiteLLM(Peer):
    name, path, executable = "LiteLLM proxy", "/v1/chat/completions", LITELLM
    install = f"python3 -m venv {LITELLM.parents[1]} && {LITELLM.parent}/pip install 'litellm[proxy]'"

    def command(self, tmp, upstream, port):
        config = Path(tmp) / "litellm.yaml"
        entries = "".join(f"  - model_name: {m}\n    litellm_params:\n      model: openai/{m}\n"
                          f"      api_base: {upstream}\n      api_key: sk-bench-provider-key-0000\n"
                          for m in MODELS)
        config.write_text(f"model_list:\n{entries}general_settings:\n  master_key: {MASTER_KEY}\n"
                          "litellm_settings:\n  telemetry: false\n")
        return [str(self.executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                "--num_workers", "1"]

    def env(self):
        # the model cost map from the package, not fetched at start-up
        return {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}

    def headers(self, upstream, key):
        return {"Authorization": f"Bearer {MASTER_KEY}"}  # the proxy holds the provider key itself


class Portkey(Peer):
    name, path, executable = "Portkey gateway", "/v1/chat/completions", PORTKEY
    install = (f"mkdir -p {PORTKEY.parents[4]} && cd {PORTKEY.parents[4]} && "
               f"echo '{PORTKEY_PACKAGE}' > package.json && npm install")

    def command(self, tmp, upstream, port):
        # what `npx @portkey-ai/gateway` runs; --headless leaves out the console UI and its log stream
        return ["node", str(self.executable), f"--port={port}", "--headless"]

    def headers(self, upstream, key):
        return {"Authorization": f"Bearer {key}", "x-portkey-provider": "openai",
                "x-portkey-custom-host": upstream}


PEERS = (LiteLLM(), Portkey())
