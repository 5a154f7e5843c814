"""Checkpoint resolution, atomic download, validation and the offline pre-fetch command.

Downloads are served by a real HTTP server on 127.0.0.1; no test reaches beyond the loopback interface.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import platformdirs
import pytest
import torch
from safetensors.torch import save_file

from harness.fetch import clip_download, fetch_inception, main, parse_args
from harness.glide.checkpoints import (
    CHECKPOINTS,
    RELEASED_CHECKPOINTS,
    CheckpointError,
    checkpoint_info,
    checkpoints_of_mode,
    default_cache_dir,
    expected_shapes,
    load_state_dict,
    resolve_checkpoint,
    validate_state_dict,
)
from harness.glide.models import random_model
from harness.glide.noised_clip import ImageEncoder, TextEncoder, load_encoders
from harness.glide.presets import NoisedClipConfig, preset
from harness.glide.unet import GlideUNet

REPO_ROOT = Path(__file__).resolve().parents[1]
GLIDE_REFERENCE = REPO_ROOT.parent / "shared" / "glide_reference"
INCOMPLETE = "is not a complete checkpoint (truncated download?); delete it and run python -m harness.fetch"


# --- a loopback file server -------------------------------------------------------------------------


class _FileServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.files: dict[str, bytes] = {}
        self.declared_length: dict[str, int] = {}
        self.stall = threading.Event()  # set: responses stop after the body, connection open
        self.body_sent = threading.Event()
        self.release = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _FileHandler(BaseHTTPRequestHandler):
    server: _FileServer

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(self.server.declared_length.get(self.path, len(body))))
        self.end_headers()
        # With HTTP/1.0 the connection closes after the response, so a declared length larger than
        # the body is a connection dropped mid-download.
        self.wfile.write(body)
        self.wfile.flush()
        self.server.body_sent.set()
        if self.server.stall.is_set():
            self.server.release.wait(timeout=30)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_FileServer]:
    srv = _FileServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def closed_base_url() -> str:
    """A loopback URL whose port has nothing listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def payload(n_bytes: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n_bytes)


# --- tiny "models" ----------------------------------------------------------------------------------

MODEL_A_SHAPES = {
    "token_embedding.weight": (10, 4),
    "blocks.0.weight": (3, 4),
    "blocks.0.bias": (3,),
    "out.weight": (2, 3),
}
MODEL_B_SHAPES = {"token_embedding.weight": (10, 8), "blocks.0.weight": (5, 8), "low_res.weight": (5,)}


def random_state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {key: torch.randn(shape, generator=gen) for key, shape in shapes.items()}


def saved(path: Path, state_dict: dict[str, torch.Tensor], *, zip_format: bool = True) -> Path:
    torch.save(state_dict, path, _use_new_zipfile_serialization=zip_format)
    return path


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- registry and cache location --------------------------------------------------------------------


def test_registry_points_at_the_official_files():
    assert sorted(CHECKPOINTS) == ["base", "upsample"]
    assert CHECKPOINTS["base"].url() == "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/base.pt"
    assert CHECKPOINTS["upsample"].url() == "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/upsample.pt"


def test_unknown_name_is_refused_listing_known_names(tmp_path):
    message = error_of(resolve_checkpoint, "bsae", cache_dir=tmp_path)
    assert "'bsae'" in message
    assert "base, upsample" in message


def test_cache_dir_defaults_to_user_cache_dir(monkeypatch):
    monkeypatch.delenv("GLIDE_CACHE", raising=False)
    assert default_cache_dir() == Path(platformdirs.user_cache_dir("glide-eval")) / "glide"


def test_glide_cache_env_var_sets_the_cache_dir(monkeypatch, tmp_path, closed_base_url):
    monkeypatch.setenv("GLIDE_CACHE", str(tmp_path))
    (tmp_path / "upsample.pt").write_bytes(b"weights")
    assert resolve_checkpoint("upsample", base_url=closed_base_url) == tmp_path / "upsample.pt"


# --- resolution order -------------------------------------------------------------------------------


def test_explicit_path_wins_over_cache(tmp_path, closed_base_url):
    (tmp_path / "base.pt").write_bytes(b"cached")
    explicit = tmp_path / "elsewhere" / "my_base.pt"
    explicit.parent.mkdir()
    explicit.write_bytes(b"explicit")
    found = resolve_checkpoint("base", path=str(explicit), cache_dir=tmp_path, base_url=closed_base_url)
    assert found == explicit


def test_missing_explicit_path_is_named(tmp_path):
    missing = tmp_path / "nope.pt"
    message = error_of(resolve_checkpoint, "base", path=missing, cache_dir=tmp_path)
    assert str(missing) in message


def test_cached_file_is_used_without_network(tmp_path, closed_base_url):
    (tmp_path / "base.pt").write_bytes(b"cached weights")
    found = resolve_checkpoint("base", cache_dir=tmp_path, base_url=closed_base_url)
    assert found == tmp_path / "base.pt"
    assert found.read_bytes() == b"cached weights"


def test_no_download_and_not_cached_names_url_and_path(tmp_path, server):
    message = error_of(resolve_checkpoint, "base", cache_dir=tmp_path, download=False, base_url=server.base_url)
    assert server.base_url + "base.pt" in message
    assert str(tmp_path / "base.pt") in message
    assert os.listdir(tmp_path) == []


# --- downloads --------------------------------------------------------------------------------------


def test_download_lands_complete_in_the_cache(tmp_path, server):
    body = payload(3 * 2**20 + 123)  # several read chunks and a ragged tail
    server.files["/upsample.pt"] = body
    found = resolve_checkpoint("upsample", cache_dir=tmp_path / "cache", base_url=server.base_url)
    assert found == tmp_path / "cache" / "upsample.pt"
    assert found.read_bytes() == body
    assert os.listdir(tmp_path / "cache") == ["upsample.pt"]


def test_dropped_connection_leaves_no_final_and_no_partial_file(tmp_path, server):
    server.files["/base.pt"] = payload(100_000)
    server.declared_length["/base.pt"] = 250_000
    message = error_of(resolve_checkpoint, "base", cache_dir=tmp_path, base_url=server.base_url)
    assert server.base_url + "base.pt" in message
    assert str(tmp_path / "base.pt") in message
    assert os.listdir(tmp_path) == []


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as at a terminal, also where the test run inherited it ignored (a
    background job of a non-interactive shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupted_download_leaves_no_file(tmp_path, server, ctrl_c_raises):
    server.files["/base.pt"] = payload(50_000)
    server.declared_length["/base.pt"] = 100_000
    server.stall.set()
    main_thread = threading.main_thread().ident

    def press_ctrl_c() -> None:
        # Once the server has sent all it will, the client has made its partial file (before its request) and
        # reads the response. Sent to the main thread, the signal interrupts a blocked read (sent to the
        # process, it may land on this thread, and the main thread would notice it only when the server gives up).
        if server.body_sent.wait(timeout=300):
            signal.pthread_kill(main_thread, signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        resolve_checkpoint("base", cache_dir=tmp_path, base_url=server.base_url)
    assert os.listdir(tmp_path) == []


def test_unreachable_server_gives_one_paragraph_with_url_and_path(tmp_path, closed_base_url):
    message = error_of(resolve_checkpoint, "base", cache_dir=tmp_path, base_url=closed_base_url)
    assert "\n" not in message
    assert f"Could not download {closed_base_url}base.pt" in message
    assert f"put it at {tmp_path / 'base.pt'}" in message
    assert "python -m harness.fetch" in message
    assert os.listdir(tmp_path) == []


def test_http_error_is_reported_with_its_status(tmp_path, server):
    message = error_of(resolve_checkpoint, "base", cache_dir=tmp_path, base_url=server.base_url)
    assert "HTTP 404" in message
    assert os.listdir(tmp_path) == []


# --- validation -------------------------------------------------------------------------------------


def test_expected_shapes_follow_the_module_order():
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    assert list(expected_shapes(module).items()) == [
        ("0.weight", (3, 4)),
        ("0.bias", (3,)),
        ("1.weight", (3,)),
        ("1.bias", (3,)),
    ]


def test_matching_state_dict_passes():
    validate_state_dict(random_state_dict(MODEL_A_SHAPES), MODEL_A_SHAPES, source="a.pt")


def test_missing_key_is_named_before_an_earlier_unexpected_one():
    state_dict = random_state_dict(MODEL_A_SHAPES)
    renamed = {("aaa.weight" if key == "blocks.0.weight" else key): value for key, value in state_dict.items()}
    message = error_of(validate_state_dict, renamed, MODEL_A_SHAPES, source="a.pt")
    assert "checkpoint a.pt" in message
    assert "lacks key 'blocks.0.weight' (expected shape (3, 4))" in message
    assert "1 missing, 1 unexpected, 0 wrong shape" in message


def test_wrong_shape_is_named_with_both_shapes():
    state_dict = random_state_dict(MODEL_A_SHAPES)
    state_dict["out.weight"] = torch.zeros(2, 4)
    message = error_of(validate_state_dict, state_dict, MODEL_A_SHAPES, source="a.pt")
    assert "has key 'out.weight' with shape (2, 4), expected (2, 3)" in message
    assert "0 missing, 0 unexpected, 1 wrong shape" in message


def test_first_bad_key_in_expected_order_is_named():
    state_dict = random_state_dict(MODEL_A_SHAPES)
    state_dict["out.weight"] = torch.zeros(7)
    del state_dict["blocks.0.bias"]
    message = error_of(validate_state_dict, state_dict, MODEL_A_SHAPES, source="a.pt")
    assert "lacks key 'blocks.0.bias'" in message
    assert "'out.weight'" not in message


def test_extra_key_alone_is_named():
    state_dict = random_state_dict(MODEL_A_SHAPES) | {"extra.bias": torch.zeros(1)}
    message = error_of(validate_state_dict, state_dict, MODEL_A_SHAPES, source="a.pt")
    assert "has unexpected key 'extra.bias'" in message


# --- loading files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_good_torch_file_loads_the_saved_tensors(tmp_path, zip_format):
    original = random_state_dict(MODEL_A_SHAPES)
    path = saved(tmp_path / "a.pt", original, zip_format=zip_format)
    loaded = load_state_dict(path, MODEL_A_SHAPES)
    assert list(loaded) == list(MODEL_A_SHAPES)
    for key, tensor in original.items():
        assert torch.equal(loaded[key], tensor)


def test_good_safetensors_file_loads_the_saved_tensors(tmp_path):
    original = random_state_dict(MODEL_A_SHAPES)
    save_file(original, tmp_path / "a.safetensors")
    loaded = load_state_dict(tmp_path / "a.safetensors", MODEL_A_SHAPES)
    assert set(loaded) == set(MODEL_A_SHAPES)
    for key, tensor in original.items():
        assert torch.equal(loaded[key], tensor)


def _cut(data: bytes, keep: str) -> bytes:
    return {"half": data[: len(data) // 2], "all_but_one": data[:-1], "empty": b""}[keep]


@pytest.mark.parametrize("keep", ["half", "all_but_one", "empty"])
@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
def test_truncated_file_is_refused(tmp_path, fmt, keep):
    buffer = io.BytesIO()
    if fmt == "safetensors":
        path = tmp_path / "a.safetensors"
        save_file(random_state_dict(MODEL_A_SHAPES), path)
        data = path.read_bytes()
    else:
        path = tmp_path / "a.pt"
        torch.save(random_state_dict(MODEL_A_SHAPES), buffer, _use_new_zipfile_serialization=fmt == "zip")
        data = buffer.getvalue()
    path.write_bytes(_cut(data, keep))
    message = error_of(load_state_dict, path, MODEL_A_SHAPES)
    assert message == f"{path} {INCOMPLETE}"


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = saved(tmp_path / "b.pt", random_state_dict(MODEL_B_SHAPES))
    message = error_of(load_state_dict, path, MODEL_A_SHAPES)
    assert f"checkpoint {path} does not match the model" in message
    assert "has key 'token_embedding.weight' with shape (10, 8), expected (10, 4)" in message
    assert "another model" in message


def test_pickled_module_is_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    message = error_of(load_state_dict, tmp_path / "module.pt", {"weight": (2, 2), "bias": (2,)})
    assert "holds more than a state dict of tensors" in message


def test_bare_tensor_file_is_refused(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    message = error_of(load_state_dict, tmp_path / "tensor.pt", {"weight": (3,)})
    assert "does not hold a state dict" in message


def test_missing_file_is_named(tmp_path):
    message = error_of(load_state_dict, tmp_path / "absent.pt", MODEL_A_SHAPES)
    assert str(tmp_path / "absent.pt") in message


# --- the GLIDE models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_size() -> dict[str, GlideUNet]:
    """The released architectures on the meta device: shapes without memory or initialisation cost."""
    with torch.device("meta"):
        return {name: GlideUNet(preset(name)) for name in ("base", "upsample")}


def manifest_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """The released checkpoint's key list from the reference data; the test skips where that data is absent."""
    path = GLIDE_REFERENCE / f"manifest_{name}.json"
    if not path.is_file():
        pytest.skip(f"GLIDE reference data not found at {GLIDE_REFERENCE}")
    entries = json.loads(path.read_text())["state_dict"]
    return {key: tuple(shape) for key, shape, _dtype in entries}


@pytest.mark.parametrize(("name", "n_params"), [("base", 385_030_726), ("upsample", 398_361_286)])
def test_expected_shapes_of_the_released_models_count_their_parameters(full_size, name, n_params):
    shapes = expected_shapes(full_size[name])
    assert sum(math.prod(shape) for shape in shapes.values()) == n_params


@pytest.mark.parametrize(("checkpoint", "model"), [("base", "upsample"), ("upsample", "base")])
def test_checkpoint_of_the_other_released_model_names_the_first_bad_key(full_size, checkpoint, model):
    # The official manifests, not the model code, say which key differs first.
    got, want = manifest_shapes(checkpoint), manifest_shapes(model)
    first_bad = next(key for key, shape in want.items() if got.get(key) != shape)
    message = error_of(
        validate_state_dict,
        full_size[checkpoint].state_dict(),
        expected_shapes(full_size[model]),
        source=f"{checkpoint}.pt",
    )
    assert "\n" not in message
    assert f"has key {first_bad!r} with shape {got[first_bad]}, expected {want[first_bad]}" in message
    assert "base vs upsample" in message


def test_tiny_checkpoint_downloads_loads_and_fills_a_fresh_model(tmp_path, server, full_size):
    trained = random_model("tiny_base", seed=0)
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    server.files["/base.pt"] = buffer.getvalue()

    path = resolve_checkpoint("base", cache_dir=tmp_path, base_url=server.base_url)
    with torch.device("meta"):
        expected = GlideUNet(preset("tiny_base")).expected_shapes()
    fresh = GlideUNet(preset("tiny_base"))
    fresh.load_state_dict(load_state_dict(path, expected), strict=True)
    for key, tensor in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor), key
    assert "base vs upsample" in error_of(load_state_dict, path, expected_shapes(full_size["base"]))


def test_file_url_mirror_is_downloaded(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "upsample.pt").write_bytes(payload(4096))
    found = resolve_checkpoint("upsample", cache_dir=tmp_path / "cache", base_url=mirror.as_uri() + "/")
    assert found.read_bytes() == payload(4096)
    message = error_of(resolve_checkpoint, "base", cache_dir=tmp_path / "cache", base_url=mirror.as_uri())
    assert f"Could not download {mirror.as_uri()}/base.pt" in message
    assert sorted(os.listdir(tmp_path / "cache")) == ["upsample.pt"]


# --- python -m harness.fetch ------------------------------------------------------------------------


def test_fetch_defaults_to_what_the_default_config_loads():
    plan, dry_run = parse_args([])
    assert not dry_run
    assert plan.kinds == ("glide", "tokenizer", "clip")  # the default scorers (clip, bias) need no Inception
    assert plan.clip == (("ViT-L-14", "openai"),)
    assert plan.cache_dir is None
    assert plan.glide_base_url == "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"


def test_fetch_options_are_parsed(tmp_path):
    argv = ["--cache-dir", str(tmp_path), "--clip", "ViT-B-32:openai", "--clip", "hf-hub:org/repo"]
    plan, dry_run = parse_args([*argv, "--no-inception", "--dry-run"])
    assert dry_run
    assert plan.cache_dir == tmp_path
    assert plan.clip == (("ViT-B-32", "openai"), ("hf-hub:org/repo", None))
    assert plan.kinds == ("glide", "tokenizer", "clip")
    assert parse_args(["--only", "inception"])[0].kinds == ("inception",)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--clip", "ViT-L-14"], "'ViT-L-14'"),
        (["--clip", ":openai"], "':openai'"),
        (["--clip", "hf-hub:repo-without-org"], "'hf-hub:repo-without-org'"),
        (["--only", "vae"], "'vae'"),
        (["--only", "inception", "--no-inception"], "--no-inception"),
        (["--clip", "ViT-L-14:no-such-tag"], "ViT-L-14:no-such-tag"),
    ],
)
def test_fetch_bad_arguments_exit_with_one_error_line(capsys, argv, named):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert named in error_lines[0]


def test_fetch_downloads_both_glide_checkpoints(tmp_path, server, capsys):
    server.files["/base.pt"] = payload(5000, seed=1)
    server.files["/upsample.pt"] = payload(7000, seed=2)
    argv = ["--only", "glide", "--cache-dir", str(tmp_path), "--glide-base-url", server.base_url]
    assert main(argv) == 0
    assert (tmp_path / "base.pt").read_bytes() == server.files["/base.pt"]
    assert (tmp_path / "upsample.pt").read_bytes() == server.files["/upsample.pt"]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["GLIDE", "base", "downloaded"],
        ["GLIDE", "upsample", "downloaded"],
    ]
    assert lines[0].endswith(str(tmp_path / "base.pt"))

    server.files.clear()  # a second run needs nothing from the server
    assert main(argv) == 0
    assert [line.split()[2] for line in capsys.readouterr().out.splitlines()] == ["cached", "cached"]


def test_fetch_offline_exits_2_like_the_harness_with_the_paragraph(tmp_path, closed_base_url, capsys):
    argv = ["--only", "glide", "--cache-dir", str(tmp_path), "--glide-base-url", closed_base_url]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"error: Could not download {closed_base_url}base.pt" in captured.err
    assert f"put it at {tmp_path / 'base.pt'}" in captured.err
    assert os.listdir(tmp_path) == []


def test_inception_weights_already_in_torch_hub_are_found(monkeypatch, tmp_path):
    # torch hub keeps load_state_dict_from_url files in $TORCH_HOME/hub/checkpoints/<URL file name>,
    # which is where torch-fidelity (and so torchmetrics' FID) looks for the Inception weights.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"inception")
    fetched = fetch_inception()
    assert (fetched.path, fetched.state) == (target, "cached")


@pytest.mark.slow
def test_fetch_command_offline_prints_no_traceback(tmp_path, closed_base_url):
    argv = ["--only", "glide", "--cache-dir", str(tmp_path), "--glide-base-url", closed_base_url]
    done = subprocess.run(
        [sys.executable, "-m", "harness.fetch", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # the harness's code for a usage error
    assert "Traceback" not in done.stderr
    assert f"Could not download {closed_base_url}base.pt" in done.stderr


def test_fetch_dry_run_prints_sources_and_destinations_and_fetches_nothing(
    monkeypatch, tmp_path, closed_base_url, capsys
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    argv = ["--dry-run", "--cache-dir", str(tmp_path / "glide"), "--glide-base-url", closed_base_url]
    assert main([*argv, "--clip", "hf-hub:org/repo", "scorers=[clip,fid]"]) == 0
    lines = capsys.readouterr().out.splitlines()
    inception = "weights-inception-2015-12-05-6726825d.pth"
    assert [line.split()[-3:] for line in lines] == [
        [f"{closed_base_url}base.pt", "->", str(tmp_path / "glide" / "base.pt")],
        [f"{closed_base_url}upsample.pt", "->", str(tmp_path / "glide" / "upsample.pt")],
        [
            "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
            "->",
            str(tmp_path / "tiktoken"),
        ],
        ["https://huggingface.co/org/repo", "->", lines[3].split()[-1]],
        [
            f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{inception}",
            "->",
            str(tmp_path / "torch" / "hub" / "checkpoints" / inception),
        ],
    ]
    assert lines[3].split()[-1].endswith("models--org--repo")
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    ("model", "pretrained", "planned"),
    [
        ("ViT-B-32", "laion2b_s34b_b79k", (("ViT-B-32", "laion2b_s34b_b79k"),)),
        ("hf-hub:org/repo", "null", (("hf-hub:org/repo", None),)),
        ("ViT-B-32", "null", ()),  # random initialisation
        ("local-dir:/models/clip", "null", ()),
    ],
)
def test_clip_weights_to_download_follow_model_and_pretrained(model, pretrained, planned):
    assert clip_download(model, None if pretrained == "null" else pretrained) == planned


def test_clip_weights_in_a_local_file_need_no_fetch(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"clip")
    assert clip_download("ViT-B-32", str(tmp_path / "weights.pt")) == ()


# --- the inpainting and noised-CLIP checkpoints --------------------------------------------------------

OTHER_MODES = {
    "base_inpaint": "inpaint",
    "upsample_inpaint": "inpaint",
    "clip_image_enc": "clip",
    "clip_text_enc": "clip",
}


def test_registry_holds_the_six_released_files_and_text_to_image_keeps_its_two():
    assert list(RELEASED_CHECKPOINTS) == ["base", "upsample", *OTHER_MODES]
    for name, mode in OTHER_MODES.items():
        info = checkpoint_info(name)
        assert info.mode == mode and info.filename == f"{name}.pt"
        assert info.url() == f"https://openaipublic.blob.core.windows.net/diffusion/dec-2021/{name}.pt"
    assert list(CHECKPOINTS) == list(checkpoints_of_mode("text2im")) == ["base", "upsample"]
    assert list(checkpoints_of_mode("clip")) == ["clip_image_enc", "clip_text_enc"]


def test_unknown_mode_is_refused_listing_the_modes():
    message = error_of(checkpoints_of_mode, "edit")
    assert "'edit'" in message and "text2im, inpaint, clip" in message


@pytest.mark.parametrize(
    ("name", "fetch"),
    [
        ("base", "`python -m harness.fetch`"),
        ("upsample_inpaint", "`python -m harness.fetch --only glide --modes inpaint`"),
        ("clip_image_enc", "`python -m harness.fetch --only glide --modes clip`"),
    ],
)
def test_a_missing_checkpoint_names_the_fetch_of_its_own_mode(tmp_path, name, fetch):
    message = error_of(resolve_checkpoint, name, cache_dir=tmp_path, download=False)
    assert fetch in message


def test_unknown_name_lists_every_released_checkpoint(tmp_path):
    message = error_of(resolve_checkpoint, "base-inpaint", cache_dir=tmp_path, download=False)
    assert "'base-inpaint'" in message
    assert all(name in message for name in RELEASED_CHECKPOINTS)


@pytest.mark.parametrize("name", ["base_inpaint", "upsample_inpaint"])
def test_inpainting_checkpoint_from_a_local_file_fills_a_fresh_model_strictly(tmp_path, server, name):
    tiny = f"tiny_{name}"
    trained = random_model(tiny, seed=3)
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    server.files[f"/{name}.pt"] = buffer.getvalue()

    path = resolve_checkpoint(name, cache_dir=tmp_path, base_url=server.base_url)
    assert path == tmp_path / f"{name}.pt"
    with torch.device("meta"):
        expected = GlideUNet(preset(tiny)).expected_shapes()
    fresh = GlideUNet(preset(tiny))
    fresh.load_state_dict(load_state_dict(path, expected), strict=True)
    for key, tensor in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor), key


@pytest.mark.parametrize(("checkpoint", "model"), [("base", "base_inpaint"), ("upsample_inpaint", "upsample")])
def test_text_to_image_and_inpainting_checkpoints_are_told_apart_by_the_first_conv(checkpoint, model):
    # The manifests say the first convolution is the only difference: 3 vs 7 and 6 vs 10 input channels.
    got, want = manifest_shapes(checkpoint), manifest_shapes(model)
    assert [key for key in want if got[key] != want[key]] == ["input_blocks.0.0.weight"]
    with torch.device("meta"):
        state_dict = GlideUNet(preset(checkpoint)).state_dict()
        expected = expected_shapes(GlideUNet(preset(model)))
    message = error_of(validate_state_dict, state_dict, expected, source=f"{checkpoint}.pt")
    shape_got, shape_want = got["input_blocks.0.0.weight"], want["input_blocks.0.0.weight"]
    assert f"has key 'input_blocks.0.0.weight' with shape {shape_got}, expected {shape_want}" in message


def test_noised_clip_checkpoints_from_the_cache_load_into_the_encoders(tmp_path, closed_base_url):
    cfg = NoisedClipConfig(image_size=16, n_vocab=50, max_text_len=10, n_embd=8, n_head_text=2,
                           n_head_state_text=4, n_xf_blocks_text=1, n_head_image=2, n_head_state_image=4,
                           n_xf_blocks_image=1)  # fmt: skip
    torch.manual_seed(5)
    trained = {"clip_text_enc": TextEncoder(cfg), "clip_image_enc": ImageEncoder(cfg)}
    for name, encoder in trained.items():
        saved(tmp_path / f"{name}.pt", encoder.state_dict())
    paths = [resolve_checkpoint(name, cache_dir=tmp_path, base_url=closed_base_url) for name in trained]
    text_encoder, image_encoder = load_encoders(*paths, cfg)
    for loaded, name in ((text_encoder, "clip_text_enc"), (image_encoder, "clip_image_enc")):
        expected = trained[name].state_dict()
        assert list(loaded.state_dict()) == list(expected)
        assert all(torch.equal(loaded.state_dict()[key], value) for key, value in expected.items()), name
