"""Every list of choices, declared once: the CLI's options, the API's checks, the device
profiles and the docs take them from here."""

from __future__ import annotations

# element types: bytes per element
DTYPES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}

# kernel fusion: which ops run as their own kernel, and what the mode means
FUSE_MODES = {"none": "every op is its own kernel (ShuffleNet V2 setting)",
              "bn-act": "BN folded and activations fused into the preceding conv"}

# what the commands print; check also writes JUnit XML, charts are pictures
OUTPUT_FORMATS = ("table", "json", "csv", "markdown")
CHECK_FORMATS = (*OUTPUT_FORMATS, "junit")
CHART_FORMATS = ("png", "svg")
SWEEP_FORMATS = ("table", "csv", "jsonl")  # a sweep streams its rows: CSV or JSON lines

# what analyze rolls the layers up by (--by)
ROLLUPS = ("op", "block")

# the weights of an exported ONNX model
WEIGHTS = ("random", "zeros")

# what the peer tools count (cnncost.conventions: one rule set each), and cnncost's own figure
CONVENTIONS = ("fvcore", "ptflops", "ptflops-aten", "thop", "torchinfo", "paper")

# kinds of layer the latency estimate gives their own efficiency
LAYER_KINDS = ("conv", "pointwise", "depthwise", "grouped", "linear")
