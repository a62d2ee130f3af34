"""The defaults that the command line shows in its help.

They live here, apart from the modules that use them (each imports its own from here, and
they stay importable from there), so that ``vidstyle --help`` and ``--version`` load no
PyTorch, PyAV or OpenCV: the command line imports those inside the commands.
"""

from __future__ import annotations

#: the release (``vidstyle --version``, exported ONNX files' metadata)
VERSION = "0.1.0"

# -- stylize: video encoding (vidstyle.io.video)
#: the encoder shares the CPU with the network: on stylized frames at crf 18, superfast
#: encodes in about half the time of veryfast for 3% larger files and 0.2 dB less PSNR
DEFAULT_PRESET = "superfast"
#: x264 quality. Stylized texture is all fine detail: on 10 s of the shared clips crf 23
#: (FFmpeg's own default) made files 5.3-6.4x their source, crf 28 2.2-2.6x, with no
#: difference visible at 100% between the two (crf 32 softens the strokes); docs/encoding.md
DEFAULT_CRF = 28

# -- stylize: inputs (vidstyle.io.sources)
#: frames per second of an image sequence unless told (``--fps``)
DEFAULT_SEQUENCE_FPS = 25.0

# -- stylize: the network's painting size (vidstyle.stylizers.fast)
#: the longest side, in pixels, at which the style networks paint strokes of the size they
#: were trained for (the shipped styles are judged at 512 px)
NETWORK_SIDE = 512
#: the longest side at most at which ``auto`` paints a larger frame, unless that is under
#: half its size: strokes of a network drawn on a whole HD frame are too small for the
#: painting to show (at 1280 px, half size gives style ratio 0.35 instead of 0.47, structure
#: 0.77 instead of 0.70 and less flicker, docs/resolution.md), and cost 4
#: times the work
PAINT_SIDE = 640
#: ``style_scale``'s default: frames whose longest side is under :data:`NETWORK_SIDE` are
#: enlarged to it for the network, larger ones painted at :data:`PAINT_SIDE` or half their
#: size, whichever is larger
DEFAULT_STYLE_SCALE = "auto"

# -- stylize: temporal blending (vidstyle.stylizers.temporal)
#: the blending weight used unless told otherwise (``vidstyle stylize --temporal``, ``demo``):
#: the steadiest that keeps the style distance within 1.2x of per-frame output (docs/flicker.md)
DEFAULT_WEIGHT = 0.4

# -- stylize --backend ray (vidstyle.jobs.segments)
#: seconds of video a segment covers unless told (``--segment-seconds``): long enough that
#: the warm-up and the start of a task cost a few percent, short enough that the segments
#: of an hour of video keep many workers busy and a stopped job loses little
DEFAULT_SEGMENT_SECONDS = 20.0

# -- stylize --mode hq (vidstyle.jobs.hq.HQConfig.size)
#: the longest side HQ mode optimises at
HQ_SIZE = 512

# -- styles (vidstyle.weights)
#: the style used when none is named (``vidstyle demo``, the webcam's first style): the
#: real-time network
DEFAULT_STYLE = "starry_night_lite"

# -- webcam (vidstyle.jobs.webcam)
#: the processing resolution: the longest side of the frames stylized, shown and recorded
WEBCAM_SIZE = 640
#: the network runs at the processing resolution itself (not ``auto``): that size is the
#: speed setting, and a smaller one must stay faster
WEBCAM_STYLE_SCALE = 1.0
#: seconds from capture to display over which the webcam paints a smaller picture
WEBCAM_MAX_LATENCY = 0.15
#: frames per second under which the webcam paints a smaller picture (a camera's usual rate)
WEBCAM_MIN_FPS = 30.0

# -- export (vidstyle.stylizers.export)
#: the default opset: the lowest with every operator of the graph in its current form (ONNX
#: Runtime 1.6+ loads it; tested in OpenCV 4.10, 4.14 and 5.0); 11 to 20 export the same graph
OPSET = 13
MIN_OPSET, MAX_OPSET = 11, 20

# -- train (vidstyle.training.train)
DEFAULT_STYLE_LAYERS = "relu1_2:1,relu2_2:1,relu3_3:1,relu4_3:1"
#: the environment variable naming the training photos when ``--data`` is not given
DATA_ENV_VAR = "VIDSTYLE_DATA"
#: iterations of each ``quality``. With the palette term the standard one fine-tunes the base
#: network to every quality target on Kandinsky's Composition VII (a painting no shipped
#: style was trained on) in 500 iterations, where 300 fall just short (docs/training.md)
QUALITY_ITERATIONS = {"draft": 300, "standard": 500, "high": 1500}
#: base channels of a network trained from scratch, by architecture
DEFAULT_WIDTHS = {"johnson": 16, "lite": 8}


#: crops per training step: 4, and 2 where training computes in fp32 on the CPU (no native
#: bf16: about a third of the speed), which halves the time a step takes there and still
#: meets every quality target of one-command training on Composition VII (docs/training.md)
TRAIN_BATCH_SIZE, FP32_CPU_TRAIN_BATCH_SIZE = 4, 2


class TrainDefaults:
    """The defaults of :class:`vidstyle.training.train.TrainConfig` that ``vidstyle train`` shows."""

    distill_weight = 1.0
    image_size = 256
    style_size = 512
    batch_size = None  # by how this machine trains: TRAIN_BATCH_SIZE or FP32_CPU_TRAIN_BATCH_SIZE
    quality = "standard"
    lr = 1e-3
    vgg = "vgg16"
    content_layer = "relu2_2"
    style_layers = DEFAULT_STYLE_LAYERS
    stability_weight = 0.0
    #: noise added to the moved copy of the stability term, in levels of 255 (standard
    #: deviation): more teaches a network to ignore a camera's and a codec's noise
    stability_noise = 2.0
    #: the palette term (vidstyle.training.losses.palette_loss) of runs with a style loss: without
    #: it the Gram matrices let a network paint a wash of the painting's main colour
    palette_weight = 0.1
    seed = 0
    checkpoint_every = 100
    sample_every = 100
    device = "auto"
    #: mixed precision: fp16 on CUDA, bf16 on CPUs that compute it natively
    amp = True
    #: structure (vidstyle.quality) that fine-tuning the base network keeps, steering its style
    #: weight (vidstyle.training.balance): on the training photos, which score lower than the
    #: evaluation photos, so that the result keeps the 0.60 floor on each with room to spare
    #: (0.75 kept a tinted photo)
    structure_target = 0.68
