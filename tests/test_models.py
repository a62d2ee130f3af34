"""The transform network, the VGG feature extractor and the weights file format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from clirun import run_cli
from conftest import make_style

from vidstyle.errors import VidstyleError
from vidstyle.models import LiteTransformerNet, TransformerNet, VGGFeatures, build_transformer
from vidstyle.models.vgg import layer_names
from vidstyle.weights import find_style, list_styles, load_style, read_info


@pytest.mark.parametrize("size", [(32, 32), (37, 51), (5, 9)])
@pytest.mark.parametrize("cls", [TransformerNet, LiteTransformerNet])
@pytest.mark.parametrize("dilation", [None, (1, 4)])
def test_transformer_keeps_any_size(size: tuple[int, int], cls: type, dilation: tuple | None) -> None:
    net = cls(width=8, blocks=2, dilation=dilation).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
        fast = net(torch.rand(1, 3, *size).contiguous(memory_format=torch.channels_last))
    assert out.shape == (2, 3, *size) and fast.shape == (1, 3, *size)


def test_dilated_blocks_reach_further_at_the_same_cost() -> None:
    """A dilated block has the plain block's weights (a file's tensors fit either) and its
    first convolution samples ``dilation`` pixels apart; the fast CPU path agrees."""
    plain, dilated = LiteTransformerNet(4, 2), LiteTransformerNet(4, 2, (1, 3))
    assert {k: v.shape for k, v in plain.state_dict().items()} == {
        k: v.shape for k, v in dilated.state_dict().items()
    }
    first_convs = [block.body[0][1] for block in dilated.residuals]
    assert [conv.dilation for conv in first_convs] == [(1, 1), (3, 3)]
    assert dilated.config == {"type": "lite", "width": 4, "blocks": 2, "dilation": [1, 3]}
    assert plain.config == {"type": "lite", "width": 4, "blocks": 2}  # files without dilation unchanged
    dilated.eval()
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        reference = dilated(x)
        fast = dilated(x.contiguous(memory_format=torch.channels_last))
    assert (fast - reference).abs().max() < 1e-5


def test_dilation_is_stored_in_and_read_from_weights_files(tmp_path: Path) -> None:
    path = make_style(tmp_path / "wide.safetensors", width=4, blocks=3, arch="lite", dilation=(1, 2, 4))
    style = load_style(path)
    assert style.net.dilation == (1, 2, 4)
    assert style.info.network == "lite, width 4, 3 blocks, dilated 1,2,4"
    rebuilt = build_transformer(read_info(path).arch)
    rebuilt.load_state_dict(style.net.state_dict())
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(style.net.eval()(x), rebuilt.eval()(x))


@pytest.mark.parametrize(
    ("dilation", "problem"),
    [([1], "one integer per block"), ([1, 0], "from 1 to 16"), ([1, 17], "from 1 to 16"),
     ([1, 2.0], "integer"), ("12", "one integer per block"), ([True, 1], "integer")],
)
def test_bad_dilation_in_a_file_is_refused(dilation: object, problem: str) -> None:
    with pytest.raises(VidstyleError, match=problem):
        build_transformer({"type": "lite", "width": 4, "blocks": 2, "dilation": dilation})


def test_transformer_width_and_blocks_change_capacity() -> None:
    small = sum(p.numel() for p in TransformerNet(8, 1).parameters())
    big = sum(p.numel() for p in TransformerNet(32, 5).parameters())
    assert big > 20 * small
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in TransformerNet(8, 1).modules())


def test_lite_network_never_convolves_at_full_resolution() -> None:
    """Its speed comes from working at half resolution and below."""
    net = LiteTransformerNet(8, 2).eval()
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[-1]))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        net(torch.rand(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert sizes and max(sizes) <= 32 + 2  # half of 64, plus reflection padding
    lite = sum(p.numel() for p in net.parameters())
    assert lite < sum(p.numel() for p in TransformerNet(8, 2).parameters())


def test_bf16_instance_norm_fast_path_matches_the_reference() -> None:
    """The inference path for bf16 on the CPU agrees with PyTorch's kernel in fp32."""
    from vidstyle.models.transformer import InstanceNorm

    norm = InstanceNorm(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = (torch.randn(2, 6, 20, 30) * 3 + 5).to(memory_format=torch.channels_last)
    reference = torch.nn.functional.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps)
    with torch.inference_mode():
        fast = norm.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert fast.dtype == torch.bfloat16 and fast.is_contiguous(memory_format=torch.channels_last)
    assert (fast.float() - reference).abs().max() < 0.1  # bf16 keeps ~3 significant digits
    x.requires_grad_(True)
    norm.float()(x).sum().backward()  # training takes the reference kernel, with gradients
    assert x.grad is not None


@pytest.mark.parametrize("size", [(6, 9), (13, 8)])
def test_channels_last_kernels_match_pytorch(size: tuple[int, int]) -> None:
    """The inference-only layout kernels give PyTorch's results exactly, kept channels-last."""
    import torch.nn.functional as F

    from vidstyle.models.kernels import reflect_pad, upsample_conv
    from vidstyle.models.transformer import DepthToSpace, SpaceToDepth

    x = torch.randn(2, 5, *size).contiguous(memory_format=torch.channels_last)
    results = {f"pad {p}": (reflect_pad(x, p), F.pad(x, (p,) * 4, mode="reflect")) for p in (1, 2, 4)}
    even = torch.randn(2, 8, 6, 10).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # the inference path
        results["space to depth"] = (SpaceToDepth(2)(even), F.pixel_unshuffle(even, 2))
        results["depth to space"] = (DepthToSpace(2)(even), F.pixel_shuffle(even, 2))
    for name, (fast, reference) in results.items():
        assert torch.equal(fast, reference), name
        assert fast.is_contiguous(memory_format=torch.channels_last), name
    conv = torch.nn.Conv2d(5, 3, 3)
    with torch.no_grad():
        fast = upsample_conv(x, conv)
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        reference = conv(F.pad(up, (1,) * 4, mode="reflect"))
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert (fast - reference).abs().max() < 1e-5  # the same sums in another order


@pytest.mark.parametrize("cls", [TransformerNet, LiteTransformerNet])
def test_inference_path_matches_the_training_path(cls: type) -> None:
    """Without gradients on channels-last input the networks take the fast kernels (instance
    norm from fp32 statistics, the layout kernels above); the output is the same."""
    torch.manual_seed(0)
    net = cls(width=4, blocks=2)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 2)
                m.bias.uniform_(-1, 1)
    x = torch.rand(2, 3, 36, 52)
    reference = net(x).detach()  # gradients on: PyTorch's kernels
    net = net.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        fast = net(x.contiguous(memory_format=torch.channels_last))
    assert (fast - reference).abs().max() < 1e-4


def test_fast_path_under_autocast_leaves_the_network_usable_without() -> None:
    """The upsampling's derived weights keep the parameters' dtype when first derived under
    autocast, so the same network then runs in fp32 without it."""
    net = LiteTransformerNet(4, 1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x)
        full = net(x)
    assert full.dtype == torch.float32 and (full - low.float()).abs().max() < 0.05


def test_build_transformer_reads_the_stored_architecture() -> None:
    assert isinstance(build_transformer({"type": "lite", "width": 4, "blocks": 1}), LiteTransformerNet)
    classic = build_transformer({"width": 4, "blocks": 1})  # files written before "type" existed
    assert isinstance(classic, TransformerNet)
    assert classic.config == {"type": "johnson", "width": 4, "blocks": 1}
    with pytest.raises(ValueError, match="unknown network type 'x'"):
        build_transformer({"type": "x", "width": 4, "blocks": 1})


def test_vgg_layer_names_match_torchvision_indices() -> None:
    import torchvision

    for arch, ctor in (("vgg16", torchvision.models.vgg16), ("vgg19", torchvision.models.vgg19)):
        reference = ctor(weights=None).features
        names = layer_names(arch)
        assert len(names) == len(reference)
        for name, module in zip(names, reference, strict=True):
            kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
            assert isinstance(module, kind[name[:4].rstrip("0123456789_")])


def test_vgg_features_returns_requested_layers_and_is_frozen() -> None:
    vgg = VGGFeatures("vgg16", ["relu1_2", "relu3_3"], pool="avg")
    out = vgg(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu1_2", "relu3_3"}
    assert out["relu3_3"].shape == (1, 256, 8, 8)
    assert all(not p.requires_grad for p in vgg.parameters())
    assert len(vgg.features) == layer_names("vgg16").index("relu3_3") + 1
    image = torch.rand(1, 3, 32, 32)
    early = vgg(image, until="relu1_2")  # a content target: the layers after it are not run
    assert set(early) == {"relu1_2"} and torch.equal(early["relu1_2"], vgg(image)["relu1_2"])
    vgg.train()
    assert not vgg.training
    with pytest.raises(ValueError, match="unknown vgg16 layer"):
        VGGFeatures("vgg16", ["relu5_4"])


def test_vgg_loads_torchvision_state_dict() -> None:
    import torchvision

    model = torchvision.models.vgg16(weights=None)
    vgg = VGGFeatures("vgg16", ["relu2_2"], state_dict=model.state_dict())
    x = torch.rand(1, 3, 24, 24)
    normalized = (x - vgg.mean) / vgg.std
    assert torch.allclose(vgg(x)["relu2_2"], model.features[:9](normalized), atol=1e-5)


def test_weights_round_trip(tmp_path: Path) -> None:
    path = make_style(tmp_path / "mine.safetensors", seed=3, width=8, blocks=2)
    style = load_style(path)
    assert style.name == "mine"
    assert style.net.config == {"type": "johnson", "width": 8, "blocks": 2}
    assert style.style_image.shape == (40, 60, 3) and style.style_image.dtype == np.uint8
    torch.manual_seed(3)
    reference = TransformerNet(8, 2).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(style.net(x), reference(x))
    lite = load_style(make_style(tmp_path / "lite.safetensors", width=4, blocks=1, arch="lite"))
    assert isinstance(lite.net, LiteTransformerNet) and lite.net.config["type"] == "lite"
    info = read_info(path)
    assert info.metadata["format_version"] == 1 and info.metadata["description"] == "test"


def test_style_lookup_by_name_in_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_style(tmp_path / "alpha.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"garbage")
    monkeypatch.setenv("VIDSTYLE_STYLES", str(tmp_path))
    names = [s.name for s in list_styles()]
    assert "alpha" in names and "junk" not in names
    assert find_style("alpha") == tmp_path / "alpha.safetensors"
    with pytest.raises(VidstyleError, match=r"unknown style 'nope' \(available: .*alpha"):
        find_style("nope")


def test_style_is_found_by_file_stem_and_by_stored_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train --name`` is the name `styles` shows and -s takes; a file stem wins over
    another style's stored name, so every file stays reachable."""
    from PIL import Image

    from vidstyle.weights import DEFAULT_STYLE

    make_style(tmp_path / "mine.safetensors", name="My Starry")
    make_style(tmp_path / "other.safetensors", seed=1, name="mine")
    make_style(tmp_path / "fake.safetensors", seed=2, name=DEFAULT_STYLE)
    monkeypatch.setenv("VIDSTYLE_STYLES", str(tmp_path))
    assert {info.stem: info.name for info in list_styles() if info.path.parent == tmp_path} == {
        "fake": DEFAULT_STYLE,
        "mine": "My Starry",
        "other": "mine",
    }
    assert find_style("My Starry") == tmp_path / "mine.safetensors"
    assert find_style("mine") == tmp_path / "mine.safetensors"  # the stem, not other's name
    assert find_style("other") == tmp_path / "other.safetensors"
    assert find_style(DEFAULT_STYLE).stem == DEFAULT_STYLE  # the shipped file, not fake
    with pytest.raises(VidstyleError, match=r"available: .*My Starry \(file mine\)"):
        find_style("nope")

    code, out, _ = run_cli(["styles", "--json"], capsys)
    rows = {row["file_stem"]: row for row in json.loads(out)}
    assert code == 0 and [stem for stem, row in rows.items() if row["default"]] == [DEFAULT_STYLE]
    assert rows["mine"]["name"] == "My Starry" and rows["fake"]["name"] == DEFAULT_STYLE
    image = tmp_path / "in.png"
    Image.new("RGB", (32, 24), "white").save(image)
    code, out, _ = run_cli(["stylize", image, "-s", "My Starry", "-o", tmp_path / "out.png"], capsys)
    assert code == 0 and out.rstrip().endswith("style My Starry)")


@pytest.mark.parametrize(
    "content,message",
    [(b"garbage", "not a vidstyle weights file"), (b"", "not a vidstyle weights file")],
)
def test_corrupt_weights_named_in_error(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(VidstyleError, match=message) as err:
        load_style(bad)
    assert str(bad) in str(err.value)


def test_foreign_safetensors_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(VidstyleError, match="no vidstyle metadata"):
        load_style(foreign)


def test_weights_with_wrong_tensors_rejected(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = make_style(tmp_path / "ok.safetensors")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    key = next(k for k in tensors if k.startswith("net."))
    tensors.pop(key)
    broken = tmp_path / "broken.safetensors"
    save_file(tensors, str(broken), metadata=meta)
    with pytest.raises(VidstyleError, match=f"broken.safetensors is damaged: it lacks the tensor {key}$"):
        load_style(broken)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_tensor_image_round_trip_rounds_and_clamps(layout: torch.memory_format) -> None:
    """Network outputs become the nearest uint8 level; values outside [0, 1] are clipped."""
    from vidstyle.io.images import to_images, to_tensor

    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    batch = to_tensor([image, image]).contiguous(memory_format=layout)
    assert all(np.array_equal(out, image) for out in to_images(batch))
    nudged = (batch + 0.4 / 255).contiguous(memory_format=layout)  # still nearest to the same level
    assert np.array_equal(to_images(nudged)[0], image)
    values = torch.tensor([-0.5, 0.0, 0.7 / 255, 1.4 / 255, 0.5, 1.0, 1.5]).expand(1, 3, 1, 7)
    assert to_images(values)[0][0, :, 0].tolist() == [0, 0, 1, 1, 128, 255, 255]


def with_metadata(source: Path, target: Path, **changes: object) -> Path:
    """A copy of a weights file whose vidstyle metadata has ``changes`` (``None``: key removed)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), "pt") as f:
        meta = json.loads(f.metadata()["vidstyle"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    save_file(tensors, str(target), metadata={"vidstyle": json.dumps(meta)})
    return target


BAD_ARCHITECTURES = {
    "string": ("lite", "must be a JSON object, not 'lite'"),
    "missing": (None, r"no network architecture \(arch\)"),
    "blocks 1e8": ({"width": 8, "blocks": 1e8}, "blocks must be an integer from 0 to 32, not 100000000.0"),
    "huge blocks": ({"width": 8, "blocks": 10**8}, "blocks must be an integer from 0 to 32"),
    "width 1e6": ({"width": 10**6, "blocks": 1}, "width must be an integer from 1 to 128"),
    "width 0": ({"width": 0, "blocks": 1}, "width must be an integer from 1 to 128"),
    "width true": ({"width": True, "blocks": 1}, "width must be an integer"),
    "width text": ({"width": "8", "blocks": 1}, "width must be an integer"),
    "negative blocks": ({"width": 8, "blocks": -1}, "blocks must be an integer from 0 to 32"),
    "no width": ({"blocks": 1}, "lacks width"),
    "unknown type": ({"type": "big", "width": 8, "blocks": 1}, "unknown network type 'big'"),
    "type list": ({"type": ["lite"], "width": 8, "blocks": 1}, "unknown network type"),
}


@pytest.fixture
def no_huge_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail fast (instead of allocating until memory runs out) if a bad file builds a network."""
    import vidstyle.models.transformer as transformer

    def refuse(channels: int) -> None:
        raise AssertionError("a network was built from invalid metadata")

    monkeypatch.setattr(transformer, "ResidualBlock", refuse)


@pytest.mark.parametrize("case", BAD_ARCHITECTURES, ids=str)
def test_invalid_architecture_is_refused_before_building(
    tmp_path: Path, tiny_style: Path, no_huge_networks: None, case: str
) -> None:
    arch, message = BAD_ARCHITECTURES[case]
    bad = with_metadata(tiny_style, tmp_path / "bad.safetensors", arch=arch)
    for call in (read_info, load_style):
        with pytest.raises(VidstyleError, match=message) as err:
            call(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_network_constructors_enforce_the_same_limits() -> None:
    from vidstyle.models import ArchitectureError

    for width, blocks in ((129, 1), (8, 33), (0, 1), (8, -1), (8.0, 1)):
        with pytest.raises(ArchitectureError):
            TransformerNet(width, blocks)  # type: ignore[arg-type]
        with pytest.raises(ValueError):  # also a ValueError, for callers of the constructors
            LiteTransformerNet(width, blocks)  # type: ignore[arg-type]
    assert TransformerNet(128, 0).width == 128 and LiteTransformerNet(1, 32).blocks == 32
    assert build_transformer({"width": np.int64(4), "blocks": 1}).config["width"] == 4


def test_bad_format_version_is_refused(tmp_path: Path, tiny_style: Path) -> None:
    for version, message in (("2", "invalid format version '2'"), (99, "needs a newer vidstyle")):
        bad = with_metadata(tiny_style, tmp_path / "v.safetensors", format_version=version)
        with pytest.raises(VidstyleError, match=message):
            read_info(bad)


def test_listing_skips_a_bad_file_with_a_warning(
    tmp_path: Path, tiny_style: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    make_style(folder / "good.safetensors")
    with_metadata(tiny_style, folder / "huge.safetensors", arch={"width": 8, "blocks": 1e8})
    with_metadata(tiny_style, folder / "worded.safetensors", arch="lite")
    (folder / "cut.safetensors").write_bytes(tiny_style.read_bytes()[:100])  # a truncated download
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(folder / "other_program.safetensors"))
    monkeypatch.setenv("VIDSTYLE_STYLES", str(folder))
    names = [info.name for info in list_styles()]
    assert "good" in names and not {"huge", "worded", "cut", "other_program"} & set(names)
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 3 and all(line.startswith("warning: ") for line in warnings)
    assert any(str(folder / "huge.safetensors") in w and "blocks must be an integer" in w for w in warnings)
    assert any(str(folder / "worded.safetensors") in w and "JSON object" in w for w in warnings)
    assert any(str(folder / "cut.safetensors") in w for w in warnings)
    assert find_style("good") == folder / "good.safetensors"


def test_missing_styles_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VidstyleError, match="styles directory not found"):
        list_styles([tmp_path / "missing"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(VidstyleError, match="styles directory is not a directory"):
        list_styles([tmp_path / "file"])


def test_painting_or_directory_given_as_a_style_network(tmp_path: Path) -> None:
    from PIL import Image

    painting = tmp_path / "painting.jpg"
    Image.new("RGB", (32, 24), (200, 120, 40)).save(painting)
    hidden = tmp_path / "painting_without_suffix"
    Image.new("RGB", (32, 24)).save(hidden, format="PNG")
    for path in (painting, hidden):
        with pytest.raises(VidstyleError, match=r"is an image, not a style network: use it with mode hq"):
            load_style(path)
    with pytest.raises(VidstyleError, match=f"{re.escape(str(tmp_path))} is a directory, not a style"):
        load_style(tmp_path)
    with pytest.raises(VidstyleError, match="style weights file not found"):
        load_style(tmp_path / "x.safetensors")



def test_cli_reports_bad_style_files_in_one_line(
    tmp_path: Path, tiny_style: Path, photo_dir: Path, no_huge_networks: None, capsys
) -> None:
    from PIL import Image

    image = tmp_path / "in.png"
    Image.new("RGB", (32, 24)).save(image)
    bad = with_metadata(tiny_style, tmp_path / "bad.safetensors", arch={"width": 10**6, "blocks": 5})
    runs = {
        "stylize": ["stylize", image, "-s", bad, "-o", tmp_path / "out.png"],
        "teacher": ["train", "--teacher", bad, "--data", photo_dir, "-o", tmp_path / "s.safetensors"],
        "painting": ["stylize", image, "-s", image, "-o", tmp_path / "out.png"],
        "directory": ["stylize", image, "-s", tmp_path, "-o", tmp_path / "out.png"],
        "missing dir": ["styles", tmp_path / "missing"],
    }
    messages = {
        "stylize": "invalid network architecture: width must be an integer from 1 to 128",
        "teacher": "invalid network architecture: width must be an integer from 1 to 128",
        "painting": "is an image, not a style network",
        "directory": "is a directory",
        "missing dir": "styles directory not found",
    }
    for name, args in runs.items():
        code, _, err = run_cli(args, capsys)
        assert code == 1, name
        assert err.startswith("error: ") and messages[name] in err and err.count("\n") == 1, name
    assert not (tmp_path / "out.png").exists()


def test_cli_lists_a_folder_despite_a_bad_file(tmp_path: Path, tiny_style: Path, capsys) -> None:
    import json

    folder = tmp_path / "styles"
    folder.mkdir()
    make_style(folder / "good.safetensors")
    with_metadata(tiny_style, folder / "bad.safetensors", arch="johnson")
    code, out, err = run_cli(["styles", folder, "--json"], capsys)
    assert code == 0
    assert "good" in {row["name"] for row in json.loads(out)}
    assert err.startswith("warning: ") and "bad.safetensors" in err and err.count("\n") == 1


def test_webcam_with_all_styles_skips_a_bad_file(
    tmp_path: Path, tiny_style: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from vidstyle.jobs.webcam import load_stylizers

    folder = tmp_path / "styles"
    folder.mkdir()
    make_style(folder / "good.safetensors")
    with_metadata(tiny_style, folder / "bad.safetensors", arch={"width": 8, "blocks": 1e8})
    monkeypatch.setenv("VIDSTYLE_STYLES", str(folder))
    names = [stylizer.name for stylizer in load_stylizers(None, "cpu")]
    assert "good" in names and "bad" not in names
    assert "bad.safetensors" in capsys.readouterr().err


def test_style_name_wins_over_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder called like a shipped style in the working directory does not hide the style."""
    from vidstyle.weights import DEFAULT_STYLE, find_style

    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_STYLE).mkdir()
    assert find_style(DEFAULT_STYLE).is_file()
    (tmp_path / "not_a_style").mkdir()
    with pytest.raises(VidstyleError, match="not_a_style is a directory"):
        load_style("not_a_style")
